"""One built release as every layer sees it: where it is and what it holds. Pure data, no I/O.

deploy/commands/releases.py builds and stores them; renderers read them (which Python, which project
settings and WSGI callable, which integration folder).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .app import AppSpec


@dataclass(frozen=True)
class Release:
    version: str
    path: Path
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def app(self) -> Path:
        """The project's code (manage.py is here)."""
        return self.path / "app"

    @property
    def integration(self) -> Path:
        """The Tiers integration's packages (on the app's Python path)."""
        return self.path / "tiers"

    @property
    def python(self) -> Path:
        return self.path / "venv" / "bin" / "python"

    @property
    def uwsgi(self) -> Path:
        return self.path / "venv" / "bin" / "uwsgi"

    @property
    def spec(self) -> AppSpec:
        """The project's declaration the release was built from (its tiers.toml)."""
        return AppSpec.from_dict(self.meta["app"])

    def at(self, path: Path) -> Release:
        """The same release where another host keeps it."""
        return Release(self.version, path, self.meta)
