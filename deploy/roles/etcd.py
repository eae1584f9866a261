"""etcd: Patroni's consensus store (v3 API); it holds the leader lock."""

from __future__ import annotations

import json

from ..clients.probes import Prober
from ..model.defaults import ETCD
from ..model.paths import StatePaths
from ..model.topology import PORT, REQUIRED, Node, RoleSchema
from ..model.units import Command, Dir, Program
from ..render.etcd import auth_setup, etcd_command
from .base import Flow, Placement, RenderContext, Role, StatusView

PATRONI_MODES = ("patroni",)


def _program(ctx: RenderContext, node: Node) -> Program:
    return Program(name=node.name, role="etcd", argv=tuple(etcd_command(ctx.topo, node, ctx.paths)))


def _setup(ctx: RenderContext, node: Node) -> list[Command]:
    return auth_setup(ctx.topo, node, ctx.paths, ctx.secrets)


def _dirs(paths: StatePaths, node: Node) -> list[Dir]:
    return [Dir(paths.data(node.name), 0o700, "etcd")]


def _health(node: Node, probe: Prober) -> tuple[int, object]:
    status, _headers, body = probe.http_get(node.address, node.port, "/health", timeout=1.0)
    try:
        return status, json.loads(body or b"null")
    except ValueError:
        return status, None


def _healthy(node: Node, probe: Prober) -> bool:
    status, data = _health(node, probe)
    return status == 200 and isinstance(data, dict) and data.get("health") in ("true", True)


def _status(node: Node, view: StatusView) -> tuple[str, str]:
    return ("ok" if _healthy(node, view.probe) else f"http {_health(node, view.probe)[0]}"), ""


ROLE = Role(
    name="etcd",
    summary="etcd 3.4: the DCS Patroni keeps its leader lock and configuration in",
    schema=RoleSchema(
        keys={
            "address": (str, REQUIRED),
            "port": (PORT, 2379),
            "peer_port": (PORT, 2380),
        },
        needed_by="db",  # none when the database is a managed service (RDS)
    ),
    priority=10,
    program=_program,
    status=_status,
    terraform=Placement(
        host_group="database", exists_in=PATRONI_MODES, instances_in=PATRONI_MODES, debian_units=("etcd",)
    ),
    ingress=(
        Flow("db", "port", "Patroni to etcd: the leader lock", PATRONI_MODES),
        Flow("etcd", "port", "etcd members health-checking each other", PATRONI_MODES),
        Flow("etcd", "peer_port", "etcd raft peers", PATRONI_MODES),
    ),
    packages=("etcd-server", "etcd-client"),
    binaries=(ETCD,),
    # Debian's etcd-server brings the user.
    user="etcd",
    internal_tls=True,
    # It sets authentication up (root's password) and Patroni's user in it.
    secrets=frozenset({"etcd_root_password", "etcd_patroni_password"}),
    setup=_setup,
    dirs=_dirs,
    ready=_healthy,
)
