"""Passwords and keys of one cluster.

Local clusters generate theirs once into ``<state>/secrets.json`` (mode 0600);
a production or rehearsal host receives them once (a file or stdin) and keeps only what each of its
roles declares, in ``<state>/secrets-<role>.json`` (0600 from creation). Renderers receive a
:class:`Secrets` and never read files themselves; a node's renderers receive only the fields its
role declares (:meth:`Secrets.only`), the others replaced by a marker that names them.
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
    # pgBackRest's own S3 key pair (the backup bucket only; the app's pair cannot reach the backups).
    backup_s3_access_key: str
    backup_s3_secret_key: str
    # HAProxy's stats page (user "admin"): only the lb role receives it.
    lb_stats_password: str
    # Patroni's REST API: Basic auth for its unsafe endpoints (switchover, restart, config...).
    patroni_rest_password: str
    # etcd: its root user (only the etcd role, which sets authentication up) and Patroni's user there.
    etcd_root_password: str
    etcd_patroni_password: str
    # SeaweedFS (local S3): signs the JWTs its filer and volume servers demand of every HTTP caller.
    seaweed_jwt_key: str
    # The project's own secrets (tiers.toml [app.secrets] names), a JSON object NAME -> value, set by the
    # operator with `python -m deploy secret set NAME`; app nodes receive them as environment variables.
    app_secrets: str

    @classmethod
    def generate(cls) -> Secrets:
        return cls(
            db_superuser_password=_random.token_urlsafe(18),
            db_replication_password=_random.token_urlsafe(18),
            db_app_password=_random.token_urlsafe(18),
            django_secret_key=_random.token_urlsafe(50),
            s3_access_key="tiers" + _random.token_hex(8),
            s3_secret_key=_random.token_urlsafe(30),
            backup_s3_access_key="tiersbackup" + _random.token_hex(8),
            backup_s3_secret_key=_random.token_urlsafe(30),
            lb_stats_password=_random.token_urlsafe(18),
            patroni_rest_password=_random.token_urlsafe(18),
            etcd_root_password=_random.token_urlsafe(18),
            etcd_patroni_password=_random.token_urlsafe(18),
            seaweed_jwt_key=_random.token_urlsafe(32),
            app_secrets="{}",
        )

    @classmethod
    def none(cls) -> Secrets:
        """Every field withheld: what a role that receives no secret renders with."""
        return cls(**{n: withheld(n) for n in field_names()})

    def only(self, names: frozenset[str]) -> Secrets:
        """These secrets with every field not in ``names`` withheld (see :func:`withheld`)."""
        unknown = names - set(field_names())
        if unknown:
            raise ValueError(f"no such secret(s): {', '.join(sorted(unknown))}")
        return Secrets(**{n: getattr(self, n) if n in names else withheld(n) for n in field_names()})

    def app_values(self) -> dict[str, str]:
        """The project's secrets (empty when withheld or none set)."""
        if self.app_secrets == withheld("app_secrets"):
            return {}
        return dict(json.loads(self.app_secrets or "{}"))

    @classmethod
    def fixed_for_tests(cls) -> Secrets:
        """Stable values for renderer unit tests (never used by a running cluster)."""
        return cls(
            **{
                **{f.name: f"test-{f.name}" for f in fields(cls)},
                "app_secrets": '{"APP_TOKEN": "test-token"}',
            }
        )


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Secrets))


def withheld(name: str) -> str:
    """What a renderer sees for a secret its role does not receive: a rendered file holding it is a bug."""
    return f"<withheld:{name}>"


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


def set_app_secret(path: Path, name: str, value: str | None) -> None:
    """Set (or, with ``None``, remove) one of the project's secrets in the cluster's secrets file."""
    current = load_or_create(path)
    values = current.app_values()
    if value is None:
        values.pop(name, None)
    else:
        values[name] = value
    _write(path, {**asdict(current), "app_secrets": json.dumps(values, sort_keys=True)})


def save_role_file(path: Path, secrets: Secrets, names: frozenset[str]) -> None:
    """Keep ``names`` of ``secrets`` (a role's) on this host, and nothing else: 0600 from creation."""
    _write(path, {n: getattr(secrets, n) for n in sorted(names)})


def load_role_file(path: Path) -> Secrets:
    """What :func:`save_role_file` kept; every other field withheld."""
    data = json.loads(path.read_text())
    return Secrets(**{n: data[n] if n in data else withheld(n) for n in field_names()})


def _write(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)  # O_CREAT applies the mode only to a new file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)
