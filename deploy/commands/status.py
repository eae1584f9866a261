"""`make status`: every node at a glance (role, address, process, health and its role's detail)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..model.topology import Node, Topology
from ..render.haproxy import LB_BACKEND, QUEUE_BACKEND
from ..roles import role_of
from ..roles.base import StatusView
from .backup import status_lines as backup_status
from .context import Cluster


@dataclass(frozen=True)
class Row:
    node: str
    role: str
    address: str
    process: str
    health: str
    detail: str


# Hosts asked at once: on a fleet each question is an SSH command of ~0.1 s, and there are ~4 per host.
PARALLEL = 16


def rows(cluster: Cluster) -> list[Row]:
    place = cluster.place
    procs: dict[str, dict] = {}
    with ThreadPoolExecutor(PARALLEL) as pool:
        for found in pool.map(lambda sup: sup.processes_if_running(), place.supervisors()):
            procs.update(found)
    lb = cluster.topo.one("lb")
    try:
        api = place.runtime_api(lb, place.host_paths(lb).haproxy_admin_sock, timeout=1)
        # Server names are unique across the topology: the web and the waiting room's backends in one map.
        lb_servers = {**api.servers(LB_BACKEND), **api.servers(QUEUE_BACKEND)}
    except (OSError, RuntimeError):
        lb_servers = {}
    return rows_for(cluster.topo, procs, lambda node: StatusView(place.prober(node), lb_servers))


def rows_for(topo: Topology, procs: dict[str, dict], view: Callable[[Node], StatusView]) -> list[Row]:
    """One row per node; a running node's health and detail come from its role's status line (all nodes
    probed at once, rows in topology order)."""

    def row(node: Node) -> Row:
        info = procs.get(node.name)
        process = info["statename"].lower() if info else "not started"
        health, detail = "-", ""
        if info and info["statename"] == "RUNNING":
            try:
                health, detail = role_of(node).status(node, view(node))
            except OSError as exc:
                health, detail = "down", str(exc)[:60]
        address = node.endpoint if node.port else node.address
        return Row(node.name, node.role, address, process, health, detail)

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(row, topo))


def format_table(rows: list[Row]) -> str:
    header = Row("NODE", "ROLE", "ADDRESS", "PROCESS", "HEALTH", "DETAIL")
    all_rows = [header, *rows]
    widths = [
        max(len(getattr(r, f)) for r in all_rows) for f in ("node", "role", "address", "process", "health")
    ]
    lines = []
    for r in all_rows:
        cells = [r.node, r.role, r.address, r.process, r.health]
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + "  " + r.detail)
    return "\n".join(line.rstrip() for line in lines)


def app_line(cluster: Cluster) -> str:
    """Which project the cluster serves and its live release (what a deploy or rollback changed)."""
    release = cluster.worker_release()
    if release is None:
        return f"app: {cluster.app_source()} (no release yet: make up)"
    spec = release.spec
    meta = release.meta
    return (
        f"app: {spec.name} ({spec.source}) live at {release.version} (built {meta.get('created_utc', '?')}), "
        f"Python {spec.python}, settings {spec.settings}"
    )


def status(cluster: Cluster) -> int:
    print(f"cluster {cluster.topo.cluster.name!r} ({cluster.topo.source}), state in {cluster.paths.root}")
    print(app_line(cluster))
    print(format_table(rows(cluster)))
    print("\n".join(backup_status(cluster)))
    return 0
