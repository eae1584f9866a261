"""PostgreSQL administration of the DB tier: who leads, SQL as superuser, the app role, replication.

Command builders (:func:`psql_argv`, :func:`app_role_argv`, :func:`primary_check_argv`) are pure; :class:`PostgresAdmin`
runs them on the DB node's host (as the postgres user, over the node's own unix socket) through the place's
transport, and reads Patroni's REST API with the place's probes.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from ..clients.transport import TransportError
from ..model.defaults import PG_BIN_DIR
from ..model.paths import StatePaths, project_python
from ..model.secrets import Secrets
from ..model.topology import Node, Topology
from ..render.patroni import app_verifier
from ..roles.db import ctl_config_path, holds_leader_key, patroni_status, pgdata
from .state import Place


class AdminError(RuntimeError):
    """A database administration step failed; the message says which and why."""


def psql_argv(paths: StatePaths, node: Node, args: list[str]) -> list[str]:
    """psql as the postgres superuser on ``node``'s own socket, run as the postgres OS user."""
    return [
        "runuser", "-u", "postgres", "--", str(PG_BIN_DIR / "psql"),
        "-h", str(paths.socket_dir(node.name)), "-p", str(node.port), "-U", "postgres", *args,
    ]  # fmt: skip


def app_role_argv(paths: StatePaths, node: Node, topo: Topology, secrets: Secrets) -> list[str]:
    """db/app_role.sql (the one definition of the app role and database) against ``node``."""
    db = topo.database
    return psql_argv(
        paths,
        node,
        ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres",
         "-v", f"role={db.user}", "-v", f"database={db.name}", "-v", f"verifier={app_verifier(topo, secrets)}",
         "-f", str(paths.repo / "db" / "app_role.sql")],
    )  # fmt: skip


def primary_check_argv(paths: StatePaths, topo: Topology) -> list[str]:
    """Connect through dbproxy as the app role (password on stdin) and print whether it is a primary."""
    proxy, db = topo.one("dbproxy"), topo.database
    return [
        *project_python(paths.repo), "-m", "deploy.clients.pgcheck",
        proxy.address, str(proxy.port), db.name, db.user,
    ]  # fmt: skip


def synchronous_settings(topo: Topology, enabled: bool | None = None) -> dict[str, str]:
    """The DCS keys of synchronous replication: the topology's values (``enabled`` overrides the mode)."""
    db = topo.database
    mode = db.synchronous_mode if enabled is None else enabled
    return {
        "synchronous_mode": str(mode).lower(),
        "synchronous_mode_strict": str(db.synchronous_mode_strict).lower(),
        "synchronous_node_count": str(db.synchronous_node_count),
    }


def edit_config_argv(paths: StatePaths, settings: dict[str, str]) -> list[str]:
    """patronictl edit-config setting DCS keys (a no-op when they already hold these values)."""
    sets = [arg for key, value in settings.items() for arg in ("-s", f"{key}={value}")]
    return [str(paths.venv / "bin" / "patronictl"), "-c", str(ctl_config_path(paths)), "edit-config",
            "--force", "--quiet", *sets]  # fmt: skip


@dataclass
class PostgresAdmin:
    topo: Topology
    place: Place
    secrets: Secrets

    def leader(self) -> Node | None:
        for node in self.topo.by_role("db"):
            data = patroni_status(node, self.place.prober(node))
            if data and data.get("role") in ("primary", "master") and data.get("state") == "running":
                return node
        return None

    def initialized(self, node: Node) -> bool:
        """The node's data directory holds a database (Patroni bootstrapped it before)."""
        version = pgdata(self.place.host_paths(node), node) / "PG_VERSION"
        return self.place.transport(node).run(["test", "-f", str(version)], check=False).returncode == 0

    def psql(self, node: Node, sql: str, database: str = "postgres", timeout: float = 10) -> str:
        # The SQL goes on stdin, not argv: it may hold a password, and argv shows in `ps`.
        args = ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, "-f", "-"]
        argv = psql_argv(self.place.host_paths(node), node, args)
        out = self.place.transport(node).run(argv, input=sql, timeout=timeout, check=False)
        if out.returncode != 0:
            raise AdminError(f"psql on {node.name} failed: {out.stderr.strip()}")
        return out.stdout.strip()

    def leader_accepts_sql(self) -> Node | None:
        leader = self.leader()
        if not leader:
            return None
        try:
            return leader if self.psql(leader, "SELECT NOT pg_is_in_recovery()") == "t" else None
        except (AdminError, TransportError, subprocess.TimeoutExpired):
            return None

    def try_ensure_app_database(self) -> bool:
        """The app role and database on the leader; False while it does not take SQL yet."""
        leader = self.leader_accepts_sql()
        # Not before the leader key is taken: while post_bootstrap still runs the same SQL, a concurrent
        # CREATE DATABASE would fail it (duplicate key) and Patroni would throw that bootstrap away.
        if leader is None or not holds_leader_key(leader, self.place.prober(leader)):
            return False
        argv = app_role_argv(self.place.host_paths(leader), leader, self.topo, self.secrets)
        try:
            return self.place.transport(leader).run(argv, timeout=30, check=False).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def set_dcs(self, settings: dict[str, str]) -> None:
        """Write Patroni's cluster-wide settings to the DCS (bootstrap.dcs applies only to a new cluster);
        the leader applies them on its next loop. Run on the leader's host: only DB hosts reach etcd."""
        leader = self.leader()
        if leader is None:
            raise AdminError("no Patroni leader: cannot change the cluster's settings now")
        argv = edit_config_argv(self.place.host_paths(leader), settings)
        out = self.place.transport(leader).run(argv, timeout=30, check=False)
        if out.returncode != 0:
            raise AdminError(f"patronictl edit-config failed: {(out.stderr or out.stdout).strip()[-500:]}")

    def sync_standbys(self) -> set[str]:
        """The synchronous standbys as Patroni records them in the DCS: the replicas it may promote."""
        synchronous = set()
        for node in self.topo.by_role("db"):
            data = patroni_status(node, self.place.prober(node))
            if data and data.get("sync_standby"):
                synchronous.add(node.name)
        return synchronous

    def settled_sync_standbys(self) -> frozenset[str]:
        """Patroni's synchronous standbys once PostgreSQL's commits wait for exactly them (empty meanwhile:
        right after a switchover or a change of the count, the two disagree for a loop or two)."""
        recorded = self.sync_standbys()
        return frozenset(recorded) if recorded and recorded == self.commit_waits_for() else frozenset()

    def commit_waits_for(self) -> set[str]:
        """The replicas the leader's commits wait for right now (PostgreSQL's view; empty: asynchronous)."""
        return self._replicas_where("sync_state = 'sync'")

    def streaming_count(self) -> int:
        return len(self.streaming_replicas())

    def streaming_replicas(self) -> set[str]:
        return self._replicas_where("state = 'streaming'")

    def _replicas_where(self, condition: str) -> set[str]:
        """Names of the leader's replication connections matching ``condition`` (empty: no leader now)."""
        leader = self.leader()
        if leader is None:
            return set()
        try:
            rows = self.psql(leader, f"SELECT application_name FROM pg_stat_replication WHERE {condition}")
        except (AdminError, TransportError, subprocess.TimeoutExpired):
            return set()
        return set(rows.split())

    def dbproxy_reaches_primary(self) -> bool:
        """A connection through dbproxy as the app role lands on a primary (tried from a web node's host)."""
        web = self.topo.by_role("web")[0]
        argv = primary_check_argv(self.place.host_paths(web), self.topo)
        out = self.place.transport(web).run(argv, input=self.secrets.db_app_password, timeout=20, check=False)
        return out.returncode == 0 and out.stdout.strip() == "primary"
