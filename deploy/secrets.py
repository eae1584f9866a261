"""Passwords and keys of one cluster.

Local clusters generate theirs once into ``<state>/secrets.json`` (mode 0600);
production hosts pass them in the environment. Renderers receive a
:class:`Secrets` and never read files themselves.
"""

from __future__ import annotations

import json
import os
import secrets as _random
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class Secrets:
    db_superuser_password: str
    db_replication_password: str
    db_app_password: str
    django_secret_key: str
    s3_access_key: str
    s3_secret_key: str

    @classmethod
    def generate(cls) -> Secrets:
        return cls(
            db_superuser_password=_random.token_urlsafe(18),
            db_replication_password=_random.token_urlsafe(18),
            db_app_password=_random.token_urlsafe(18),
            django_secret_key=_random.token_urlsafe(50),
            s3_access_key="tiers" + _random.token_hex(8),
            s3_secret_key=_random.token_urlsafe(30),
        )

    @classmethod
    def placeholder(cls) -> Secrets:
        """For hosts whose configs hold no secret (lb, media, etcd, dbproxy, cache): nothing real to leak."""
        return cls(**{f.name: "unused" for f in fields(cls)})

    @classmethod
    def fixed_for_tests(cls) -> Secrets:
        """Stable values for renderer unit tests (never used by a running cluster)."""
        return cls(**{f.name: f"test-{f.name}" for f in fields(cls)})


def load_or_create(path: Path) -> Secrets:
    """Read the cluster's secrets, creating them on first use."""
    if path.exists():
        data = json.loads(path.read_text())
        known = {f.name for f in fields(Secrets)}
        fresh = asdict(Secrets.generate())
        # Keys added by a newer version are generated once and kept.
        merged = {k: data.get(k, fresh[k]) for k in known}
        if merged != data:
            _write(path, merged)
        return Secrets(**merged)
    value = Secrets.generate()
    _write(path, asdict(value))
    return value


def _write(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)
