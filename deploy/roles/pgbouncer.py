"""pgbouncer: the connection pooler (transaction pooling) between the app nodes and the database tier."""

from __future__ import annotations

from ..model.topology import PORT, POSITIVE, REQUIRED, Node, RoleSchema, TopologyError
from ..model.units import ConfigFile, Program
from ..render.patroni import MAX_CONNECTIONS
from ..render.pgbouncer import ini_path, render_pgbouncer, render_userlist, userlist_path
from .base import Flow, Placement, RenderContext, Role
from .checks import listening

PATRONI_MODES = ("patroni",)
PGBOUNCER = "/usr/sbin/pgbouncer"
# Its own account: the pooler holds the app role's verifier and nothing of the DB nodes' data.
USER = "tiers-pgbouncer"
# Server connections of a DB node kept free of the pools: Patroni, replication, pg_rewind, admins.
RESERVED_CONNECTIONS = 20


def _validate(source: str, nodes: tuple[Node, ...]) -> None:
    for n in nodes:
        # A DB node that leads serves the primary pool and its own read pool at once.
        if 2 * n.opt("max_server_pool") + RESERVED_CONNECTIONS > MAX_CONNECTIONS:
            most = (MAX_CONNECTIONS - RESERVED_CONNECTIONS) // 2
            raise TopologyError(
                f"{source}: [pgbouncer.{n.name}] max_server_pool: {n.opt('max_server_pool')} would let the "
                f"pools take more than PostgreSQL's max_connections ({MAX_CONNECTIONS}); use at most {most}"
            )


def _files(ctx: RenderContext, node: Node) -> list[ConfigFile]:
    ini = render_pgbouncer(ctx.topo, node, ctx.paths)
    users = render_userlist(ctx.topo, ctx.secrets)
    return [
        ConfigFile(ini_path(ctx.paths, node), ini, 0o600, owner=USER, program=node.name),
        ConfigFile(userlist_path(ctx.paths, node), users, 0o600, owner=USER, program=node.name),
    ]


def _program(ctx: RenderContext, node: Node) -> Program:
    # Foreground (no -d): the process manager owns it. SIGINT is its "safe shutdown" (waits for queries).
    return Program(
        name=node.name,
        role="pgbouncer",
        argv=(PGBOUNCER, str(ini_path(ctx.paths, node))),
        stopsignal="INT",
        stopwaitsecs=15,
    )


_listening, _status = listening()


ROLE = Role(
    name="pgbouncer",
    summary="PgBouncer (transaction pooling): bounded server connections to the primary and each replica",
    schema=RoleSchema(
        keys={
            "address": (str, REQUIRED),
            "port": (PORT, 6432),
            # The ceiling of each pool's server connections, however many web and worker nodes there are.
            "max_server_pool": (POSITIVE, 20),
        },
        # None: the app connects to dbproxy and the DB nodes directly.
        count=(0, 1),
        validate=_validate,
    ),
    priority=35,
    program=_program,
    status=_status,
    terraform=Placement(
        host_group="database",
        exists_in=PATRONI_MODES,
        instances_in=PATRONI_MODES,
        debian_units=("pgbouncer",),
    ),
    ingress=(
        Flow("web", "port", "Django's connections to the primary and the replicas, pooled", PATRONI_MODES),
        Flow("worker", "port", "task workers' connections, pooled", PATRONI_MODES),
        Flow("queue", "port", "waiting room joins and admission passes, pooled", PATRONI_MODES),
    ),
    packages=("pgbouncer",),
    binaries=(PGBOUNCER,),
    user=USER,
    secrets=frozenset({"db_app_password"}),
    files=_files,
    ready=_listening,
    # PgBouncer re-reads its ini and auth file on SIGHUP, keeping every client and server connection.
    reload="HUP",
)
