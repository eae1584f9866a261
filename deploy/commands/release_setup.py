"""`python -m deploy release-setup NODE --release REF`: the release's one-time steps, run on a web host.

For a managed database (RDS), first the application role and database (db/app_role.sql, as Patroni's
post_bootstrap does on our own nodes), with the administrative user. Then `manage.py release_setup`, which
migrates and collects static files once per release for the whole cluster under a PostgreSQL advisory
lock. Terraform's user data (tiers-sync) runs it after node-install on the hosts whose role asks for it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..model.paths import StatePaths
from ..model.secrets import Secrets
from ..model.topology import Topology
from ..render.django_env import web_environment
from ..render.patroni import app_verifier
from .releases import ReleaseError, ReleaseStore
from .state import ClusterError


def app_role_on_managed_argv(topo: Topology, admin_user: str, repo: Path, verifier: str) -> list[str]:
    """psql running db/app_role.sql on the managed primary as ``admin_user`` (password via PGPASSWORD).

    The app role's password travels as its SCRAM verifier: no clear password in the server's log."""
    primary = topo.one("dbproxy")
    db = topo.database
    return [
        "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
        "-h", primary.address, "-p", str(primary.port), "-U", admin_user, "-d", "postgres",
        "-v", f"role={db.user}", "-v", f"database={db.name}", "-v", f"verifier={verifier}",
        "-f", str(repo / "db" / "app_role.sql"),
    ]  # fmt: skip


def release_setup(
    topo: Topology, node_name: str, state_base: Path, secrets: Secrets, release: str, admin_user: str = ""
) -> None:
    node = topo.node(node_name)
    paths = StatePaths.for_cluster(topo.cluster.name, state_base)
    if topo.one("dbproxy").managed:
        if not admin_user:
            raise ClusterError("the database is a managed service: pass --db-admin-user (its master user)")
        argv = app_role_on_managed_argv(topo, admin_user, paths.repo, app_verifier(topo, secrets))
        env = {**os.environ, "PGPASSWORD": secrets.db_superuser_password, "PGSSLMODE": "require"}
        _run(argv, env, "creating the application role and database")
    try:
        built = ReleaseStore(paths.root).get(release)
    except ReleaseError as exc:
        raise ClusterError(f"{exc}: put the release on this host first") from None
    env = {**os.environ, **web_environment(topo, node, paths, secrets, built)}
    argv = [str(built.python), str(built.app / "manage.py"), "release_setup", "--release", release]
    _run(argv, env, "migrations and collectstatic")


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800, check=False)
    print(out.stdout, end="")
    if out.returncode != 0:
        raise ClusterError(f"{what} failed (exit {out.returncode}): {(out.stderr or out.stdout)[-2000:]}")
