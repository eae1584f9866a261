"""lb: the site's HTTP load balancer (HAProxy) in front of every web node."""

from __future__ import annotations

import contextlib

from ..clients.haproxy import SHOW_SERVERS_STATE, RuntimeAPI
from ..model.defaults import HAPROXY
from ..model.paths import StatePaths
from ..model.topology import HOST_RE, PORT, POSITIVE, REQUIRED, Node, RoleSchema, TopologyError
from ..model.units import ConfigFile, Program
from ..render.haproxy import render_lb
from . import checks
from .base import Placement, RenderContext, Role


def _validate(source: str, nodes: tuple[Node, ...]) -> None:
    for n in nodes:
        host = n.opt("public_host")
        if host and not HOST_RE.match(host):
            raise TopologyError(
                f"{source}: [lb.{n.name}] public_host: {host!r} is not a host name "
                '(write it without scheme or port, e.g. "shop.example.com")'
            )


def config_path(paths: StatePaths, node: Node):
    return paths.conf_file(f"haproxy-{node.name}.cfg")


def _files(ctx: RenderContext, node: Node) -> list[ConfigFile]:
    return [ConfigFile(config_path(ctx.paths, node), render_lb(ctx.topo, ctx.paths), program=node.name)]


def _program(ctx: RenderContext, node: Node) -> Program:
    # -W master-worker (reload = SIGUSR2 to the master), -db stays in the foreground. SIGUSR1: soft stop.
    cfg = str(config_path(ctx.paths, node))
    return Program(name=node.name, role="lb", argv=(HAPROXY, "-W", "-db", "-f", cfg), stopsignal="USR1")


def save_server_state(paths: StatePaths) -> None:
    """Save HAProxy's server states (drain/maint/weights) so the reloaded workers keep them."""
    with contextlib.suppress(OSError):
        paths.haproxy_server_state.write_text(
            RuntimeAPI(paths.haproxy_admin_sock).command(SHOW_SERVERS_STATE)
        )


_healthz, _status = checks.http("/healthz")


ROLE = Role(
    name="lb",
    summary="HAProxy: the site's entry point; health checks, drain, per-server maxconn and queueing",
    schema=RoleSchema(
        keys={
            "address": (str, REQUIRED),
            "port": (PORT, 8080),
            "stats_port": (PORT, 8404),
            "maxconn": (POSITIVE, 4096),
            "timeout_queue_s": (POSITIVE, 10),
            # The name clients use for the site (production: a DNS name in front of the LB); "" = its address.
            "public_host": (str, ""),
        },
        count=(1, 1),
        validate=_validate,
    ),
    priority=80,
    program=_program,
    status=_status,
    terraform=Placement(host_group="lb", public=True, debian_units=("haproxy",)),
    ingress=(),  # from the internet only (Placement.public)
    packages=("haproxy",),
    binaries=(HAPROXY,),
    files=_files,
    ready=_healthz,
    # Master-worker reload: new workers take the config, old ones finish their connections.
    reload="USR2",
    before_reload=save_server_state,
)
