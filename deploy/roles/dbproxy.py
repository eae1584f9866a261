"""dbproxy: HAProxy in TCP mode; it sends connections to whichever DB node Patroni says leads."""

from __future__ import annotations

from ..model.defaults import HAPROXY
from ..model.paths import StatePaths
from ..model.topology import PORT, POSITIVE, REQUIRED, Node, RoleSchema
from ..model.units import ConfigFile, Dir, Program
from ..render.haproxy import render_dbproxy
from .base import Flow, Placement, RenderContext, Role
from .checks import listening

PATRONI_MODES = ("patroni",)
USER = "tiers-dbproxy"


def config_path(paths: StatePaths, node: Node):
    return paths.conf_file(f"haproxy-{node.name}.cfg")


def _files(ctx: RenderContext, node: Node) -> list[ConfigFile]:
    return [ConfigFile(config_path(ctx.paths, node), render_dbproxy(ctx.topo, ctx.paths), program=node.name)]


def _dirs(paths: StatePaths, node: Node) -> list[Dir]:
    return [Dir(paths.dbproxy_run, 0o750, USER)]


def _program(ctx: RenderContext, node: Node) -> Program:
    cfg = str(config_path(ctx.paths, node))
    return Program(name=node.name, role="dbproxy", argv=(HAPROXY, "-W", "-db", "-f", cfg), stopsignal="USR1")


_listening, _status = listening()


ROLE = Role(
    name="dbproxy",
    summary="HAProxy TCP endpoint that follows Patroni's /primary: where every write goes",
    schema=RoleSchema(
        keys={
            "address": (str, REQUIRED),
            "port": (PORT, 5432),
            "stats_port": (PORT, 8405),
            "maxconn": (POSITIVE, 200),
        },
        count=(1, 1),
        managed=True,  # RDS: the writer endpoint, which follows the Multi-AZ failover itself
    ),
    priority=30,
    program=_program,
    status=_status,
    terraform=Placement(
        host_group="database", exists_in=PATRONI_MODES, instances_in=PATRONI_MODES, debian_units=("haproxy",)
    ),
    ingress=(
        Flow("web", "port", "Django writes through dbproxy, which follows the Patroni leader", PATRONI_MODES),
        Flow("worker", "port", "task workers write through dbproxy", PATRONI_MODES),
        Flow("queue", "port", "waiting room joins and admission passes on the primary", PATRONI_MODES),
        Flow(
            "pgbouncer", "port", "the pooler's primary pool: writes, to whichever node leads", PATRONI_MODES
        ),
    ),
    packages=("haproxy",),
    binaries=(HAPROXY,),
    # Not the site LB's account (haproxy): on one machine neither can signal or read the other's sockets.
    user=USER,
    files=_files,
    dirs=_dirs,
    ready=_listening,
    # Restart, not USR2: a reload's old workers would keep serving the long-lived (persistent)
    # Django connections with the old server list for as long as those connections live.
)
