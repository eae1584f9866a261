"""systemd units for production hosts: one unit per node, from the same Programs supervisord runs locally."""

from __future__ import annotations

import shlex
from pathlib import Path

from ..model.units import Program
from .templates import render


def unit_name(program: Program) -> str:
    return f"tiers-{program.name}.service"


def render_env_file(environment: dict[str, str]) -> str:
    """An EnvironmentFile: one KEY="value" per line, quotes and backslashes escaped."""
    lines = []
    for key, value in environment.items():
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'{key}="{escaped}"')
    return "\n".join(lines) + ("\n" if lines else "")


def render_unit(program: Program, cluster: str, env_file: Path | None = None) -> str:
    return render(
        "deploy/templates/systemd.service.j2",
        p=_SystemdProgram(program),
        cluster=cluster,
        env_file=env_file if program.environment else None,
    )


class _SystemdProgram:
    """A Program as the unit template needs it (ExecStart quoting differs from supervisord's)."""

    def __init__(self, program: Program) -> None:
        self._p = program

    def __getattr__(self, name: str):
        return getattr(self._p, name)

    @property
    def command_for_systemd(self) -> str:
        # systemd expands $VAR and %-specifiers in ExecStart: double both, quote like a shell.
        return shlex.join(self._p.argv).replace("%", "%%").replace("$", "$$")
