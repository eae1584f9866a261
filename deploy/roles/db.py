"""db: PostgreSQL 15 run by Patroni; one bootstraps as primary, the others stream from the leader."""

from __future__ import annotations

import json
from pathlib import Path

from ..clients.probes import Prober
from ..clients.procs import pid_in
from ..model.defaults import PG_BIN_DIR
from ..model.paths import StatePaths, project_python
from ..model.topology import PORT, REQUIRED, Node, RoleSchema, Topology, TopologyError
from ..model.units import ConfigFile, Dir, Program
from ..render.patroni import patroni_ctl_config, render_patroni
from ..render.pgbackrest import PGBACKREST
from ..render.pgbackrest import config_path as pgbackrest_config
from ..render.pgbackrest import render_config as render_pgbackrest
from .base import Flow, Placement, RenderContext, Role, StatusView

PATRONI_MODES = ("patroni",)


def _validate(source: str, dbs: tuple[Node, ...]) -> None:
    for n in dbs:
        if n.opt("role") not in ("primary", "replica"):
            raise TopologyError(
                f'{source}: [db.{n.name}] role: {n.opt("role")!r} must be "primary" or "replica"'
            )
    primaries = [n for n in dbs if n.opt("role") == "primary"]
    if not primaries:
        raise TopologyError(
            f'{source}: [db] no primary: set role = "primary" on exactly one [db.<name>] table'
        )
    if len(primaries) > 1:
        names = ", ".join(n.name for n in primaries)
        raise TopologyError(f'{source}: [db] more than one primary ({names}): keep role = "primary" on one')
    primary = primaries[0]
    for n in dbs:
        target = n.opt("replica_of")
        if n.opt("role") == "primary" and target:
            raise TopologyError(f"{source}: [db.{n.name}] replica_of: a primary is nobody's replica")
        if n.opt("role") == "replica" and target and target != primary.name:
            raise TopologyError(
                f"{source}: [db.{n.name}] replica_of: {target!r} is not the primary "
                f"(the primary is {primary.name!r})"
            )


def primary(topo: Topology) -> Node:
    """The node Patroni bootstraps as the first leader (it may not be the leader now)."""
    return next(n for n in topo.by_role("db") if n.opt("role") == "primary")


def replicas(topo: Topology) -> tuple[Node, ...]:
    return tuple(n for n in topo.by_role("db") if n.opt("role") == "replica")


def pgdata(paths: StatePaths, node: Node) -> Path:
    return paths.data(node.name) / "pgdata"


def config_path(paths: StatePaths, node: Node) -> Path:
    return paths.conf_file(f"patroni-{node.name}.yml")


def ctl_config_path(paths: StatePaths) -> Path:
    return paths.conf_file("patronictl.yml")


def patroni_status(node: Node, probe: Prober) -> dict | None:
    """The node's Patroni REST /patroni document, or None when it does not answer."""
    try:
        _status, _headers, body = probe.http_get(node.address, node.opt("rest_port"), "/patroni", timeout=1.0)
        data = json.loads(body or b"null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def holds_leader_key(node: Node, probe: Prober) -> bool:
    """Patroni's /primary answers 200 only on the member holding the leader key: a new cluster's first
    member takes it after its bootstrap, post_bootstrap (the app role and database) included, is over."""
    try:
        status, _headers, _body = probe.http_get(node.address, node.opt("rest_port"), "/primary", timeout=1.0)
    except OSError:
        return False
    return status == 200


def postmaster_pid(paths: StatePaths, node: Node) -> list[int]:
    """PostgreSQL's postmaster, if it runs: Patroni starts it detached, so it can outlive Patroni."""
    pid = pid_in(pgdata(paths, node) / "postmaster.pid")
    return [pid] if pid else []


def _files(ctx: RenderContext, node: Node) -> list[ConfigFile]:
    patroni = render_patroni(ctx.topo, node, ctx.paths, ctx.secrets)
    return [
        ConfigFile(config_path(ctx.paths, node), patroni, 0o600, owner="postgres", program=node.name),
        # Root's only: the REST API's and etcd's credentials.
        ConfigFile(ctl_config_path(ctx.paths), patroni_ctl_config(ctx.topo, ctx.paths, ctx.secrets), 0o600),
        # pgBackRest (archive-push from PostgreSQL, backups and restores): read as postgres, holds the
        # repository's key pair. No program reloads on it: every pgBackRest run reads it afresh.
        ConfigFile(
            Path(pgbackrest_config(ctx.paths, node)),
            render_pgbackrest(ctx.topo, node, ctx.paths, ctx.secrets),
            0o600,
            owner="postgres",
        ),
    ]


def _dirs(paths: StatePaths, node: Node) -> list[Dir]:
    return [
        Dir(paths.data(node.name), 0o700, "postgres"),
    ]


def _program(ctx: RenderContext, node: Node) -> Program:
    # Patroni owns PostgreSQL: SIGTERM makes it stop PostgreSQL cleanly (a fast shutdown can take a
    # while under load, hence the long wait). The postmaster is detached from Patroni's group, so
    # group signals would miss it anyway.
    return Program(
        name=node.name,
        role="db",
        argv=(str(ctx.paths.venv / "bin" / "patroni"), str(config_path(ctx.paths, node))),
        stopwaitsecs=60,
        stopasgroup=False,
        startsecs=2,
        directory=str(ctx.paths.data(node.name)),
        # DB nodes start when `up` says so, one first: the topology's primary on a fresh cluster (it
        # must bootstrap it), else the last leader (it has the newest data). Started together, any
        # node can win the leader race, and a node with older data then forces a needless failover.
        autostart=False,
    )


def _backup_schedule(ctx: RenderContext, node: Node) -> Program:
    # Every DB node's host runs one; only the leader's acts (deploy/commands/backup_schedule.py). As
    # postgres: it runs pgBackRest and psql (their `runuser -u postgres` prefix is dropped for a process
    # that is postgres already: clients/transport.py) and reads the topology; it needs no secret.
    argv = (
        *project_python(ctx.paths.repo),
        "-m",
        "deploy.commands.backup_schedule",
        str(ctx.paths.repo / ctx.topo.source),  # a relative topology path is the repository's
        str(ctx.paths.root.parent),
        node.name,
    )
    # Its log beside the node's own (the folder node_dirs makes; supervisord writes it).
    log = ctx.paths.log_file(node.name).parent / f"{node.name}-backups.log"
    return Program(
        name=f"{node.name}-backups",
        role="db",
        argv=argv,
        startsecs=2,
        user="postgres",
        stdout_logfile=str(log),
    )


def _ready(node: Node, probe: Prober) -> bool:
    data = patroni_status(node, probe)
    return bool(data) and data.get("state") == "running"


def _status(node: Node, view: StatusView) -> tuple[str, str]:
    patroni = patroni_status(node, view.probe)
    if not patroni:
        return "down", "Patroni REST not answering"
    role = patroni.get("role", "?")
    role = "primary" if role == "master" else role
    detail = f"{role} timeline {patroni.get('timeline', '?')}"
    if patroni.get("sync_standby"):
        detail = f"synchronous {detail}"  # commits wait for it; Patroni promotes only such a replica
    repl = patroni.get("replication_state") or patroni.get("state", "")
    if role == "replica":
        xlog = patroni.get("xlog", {})
        received = xlog.get("received_location")
        replayed = xlog.get("replayed_location")
        if received is not None and replayed is not None:
            detail += f", replay lag {max(0, received - replayed)} B"
        if patroni.get("lag") is not None:
            detail += f", lag {patroni['lag']} B"
    health = "ok" if patroni.get("state") == "running" else patroni.get("state", "?")
    return health, f"{detail} {repl}".strip()


ROLE = Role(
    name="db",
    summary="PostgreSQL 15 under Patroni (etcd holds the leader lock); streaming replicas",
    schema=RoleSchema(
        keys={
            "address": (str, REQUIRED),
            "port": (PORT, 5432),
            "rest_port": (PORT, 8008),
            "role": (str, REQUIRED),
            "replica_of": (str, ""),
        },
        hint='add a [db.<name>] table with role = "primary"',
        validate=_validate,
        managed=True,  # RDS: the writer and read replicas by their endpoint names
    ),
    priority=20,
    program=_program,
    status=_status,
    terraform=Placement(
        host_group="database",
        instances_in=PATRONI_MODES,
        # pgBackRest archives WAL and stores backups in the backup bucket.
        reaches_s3=True,
        debian_units=("postgresql",),
    ),
    ingress=(
        Flow("web", "port", "Django reads from the replicas (and, on RDS, writes to the writer)"),
        Flow("worker", "port", "task workers read from the replicas (and, on RDS, write to the writer)"),
        Flow("queue", "port", "waiting room polls read entries from the replicas (RDS: writes too)"),
        Flow("dbproxy", "port", "dbproxy to the current leader", PATRONI_MODES),
        Flow("dbproxy", "rest_port", "dbproxy health check on Patroni /primary", PATRONI_MODES),
        Flow(
            "pgbouncer", "port", "the pooler's per-node pools: reads and the router's probes", PATRONI_MODES
        ),
        Flow("db", "port", "streaming replication and pg_rewind between members", PATRONI_MODES),
        Flow("db", "rest_port", "Patroni REST between members (failover checks)", PATRONI_MODES),
    ),
    packages=("postgresql-15", "postgresql-client-15", "pgbackrest"),
    binaries=(str(PG_BIN_DIR / "postgres"), PGBACKREST),
    # PostgreSQL refuses to run as root; Debian's package brings the user.
    user="postgres",
    internal_tls=True,
    secrets=frozenset(
        {
            "db_superuser_password",
            "db_replication_password",
            "db_app_password",
            "backup_s3_access_key",
            "backup_s3_secret_key",
            "patroni_rest_password",
            "etcd_patroni_password",
        }
    ),
    files=_files,
    dirs=_dirs,
    ready=_ready,
    ready_timeout_s=90.0,
    # Patroni re-reads its YAML on SIGHUP; the PostgreSQL settings it manages follow (no restart,
    # so no failover of the leader).
    reload="HUP",
    strays=postmaster_pid,
    sidecar=_backup_schedule,
    # SIGINT is PostgreSQL's fast shutdown: roll back sessions, checkpoint, exit. It also waits for the WAL
    # archiver, which retries a dead backup store for minutes; then SIGQUIT, the immediate shutdown: no
    # committed transaction is lost (crash recovery replays the WAL at the next start), and the segments
    # not yet archived stay marked ready, so archiving resumes then.
    stray_stop_signals=("INT", "QUIT"),
)
