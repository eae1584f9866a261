"""`make status`: every node at a glance (role, address, process, health, Patroni role, lag)."""

from __future__ import annotations

from dataclasses import dataclass

from . import probes
from .topology import Node


@dataclass(frozen=True)
class Row:
    node: str
    role: str
    address: str
    process: str
    health: str
    detail: str


def health_of(node: Node, patroni: dict | None, lb_stats: dict[str, str]) -> tuple[str, str]:
    """(health word, detail) from one probe suited to the node's role."""
    try:
        if node.role == "db":
            if not patroni:
                return "down", "Patroni REST not answering"
            role = patroni.get("role", "?")
            role = "primary" if role == "master" else role
            detail = f"{role} timeline {patroni.get('timeline', '?')}"
            repl = patroni.get("replication_state") or patroni.get("state", "")
            if role == "replica":
                xlog = patroni.get("xlog", {})
                received = xlog.get("received_location")
                replayed = xlog.get("replayed_location")
                if received is not None and replayed is not None:
                    detail += f", replay lag {max(0, received - replayed)} B"
                if patroni.get("lag") is not None:
                    detail += f", lag {patroni['lag']} B"
            return (
                "ok" if patroni.get("state") == "running" else patroni.get("state", "?")
            ), f"{detail} {repl}".strip()
        if node.role == "web":
            status, headers, _b = probes.http_get(node.address, node.port, "/readyz", timeout=2.0)
            hap = lb_stats.get(node.name, "")
            release = headers.get("x-release") or "?"
            detail = f"readyz {status}; lb: {hap or '?'}; release {release}"
            return ("ok" if status == 200 else f"http {status}"), detail
        if node.role in ("lb", "media"):
            status, _h, _b = probes.http_get(node.address, node.port, "/healthz", timeout=2.0)
            return ("ok" if status == 200 else f"http {status}"), ""
        if node.role == "etcd":
            status, _data = probes.http_json(node.address, node.port, "/health", timeout=1.0)
            return ("ok" if status == 200 else f"http {status}"), ""
        if node.role == "s3":
            status, _h, _b = probes.http_get(node.address, node.port, "/", timeout=1.0)
            return ("ok" if status in (200, 403) else f"http {status}"), ""
        if node.role == "worker":
            # A worker listens on nothing: its process state (the PROCESS column) is its health.
            return "ok", ""
        if node.role in ("cache", "dbproxy"):
            return ("ok" if probes.tcp_open(node.address, node.port) else "down"), ""
        return "-", ""
    except OSError as exc:
        return "down", str(exc)[:60]


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
