"""PostgreSQL administration of the DB tier: who leads, SQL as superuser, the app role, replication.

Command builders (:func:`psql_argv`, :func:`app_role_argv`) are pure; :class:`PostgresAdmin` runs
them (as the postgres user, over each node's own unix socket) and reads Patroni's REST API.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import psycopg2

from ..model.defaults import PG_BIN_DIR
from ..model.paths import StatePaths
from ..model.secrets import Secrets
from ..model.topology import Node, Topology
from ..render.patroni import app_verifier
from ..roles.db import patroni_status


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


@dataclass
class PostgresAdmin:
    topo: Topology
    paths: StatePaths
    secrets: Secrets

    def leader(self) -> Node | None:
        for node in self.topo.by_role("db"):
            data = patroni_status(node)
            if data and data.get("role") in ("primary", "master") and data.get("state") == "running":
                return node
        return None

    def psql(self, node: Node, sql: str, database: str = "postgres", timeout: float = 10) -> str:
        # The SQL goes on stdin, not argv: it may hold a password, and argv shows in `ps`.
        args = ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, "-f", "-"]
        out = subprocess.run(
            psql_argv(self.paths, node, args), input=sql, capture_output=True, text=True, timeout=timeout
        )
        if out.returncode != 0:
            raise AdminError(f"psql on {node.name} failed: {out.stderr.strip()}")
        return out.stdout.strip()

    def leader_accepts_sql(self) -> Node | None:
        leader = self.leader()
        if not leader:
            return None
        try:
            return leader if self.psql(leader, "SELECT NOT pg_is_in_recovery()") == "t" else None
        except (AdminError, subprocess.TimeoutExpired):
            return None

    def try_ensure_app_database(self) -> bool:
        """The app role and database on the leader; False while it does not take SQL yet."""
        leader = self.leader_accepts_sql()
        if leader is None:
            return False
        argv = app_role_argv(self.paths, leader, self.topo, self.secrets)
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return False
        return out.returncode == 0

    def streaming_count(self) -> int:
        return len(self.streaming_replicas())

    def streaming_replicas(self) -> set[str]:
        leader = self.leader()
        if leader is None:
            return set()
        try:
            rows = self.psql(
                leader, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'"
            )
        except (AdminError, subprocess.TimeoutExpired):
            return set()
        return set(rows.split())

    def dbproxy_reaches_primary(self) -> bool:
        """A connection through dbproxy as the app role lands on a primary."""
        proxy = self.topo.one("dbproxy")
        try:
            conn = psycopg2.connect(
                host=proxy.address, port=proxy.port, dbname=self.topo.database.name,
                user=self.topo.database.user, password=self.secrets.db_app_password, connect_timeout=2,
            )  # fmt: skip
        except psycopg2.OperationalError:
            return False
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT NOT pg_is_in_recovery()")
                return bool(cur.fetchone()[0])
        finally:
            conn.close()
