"""Readiness probes and status lines several roles share (an HTTP path, a listening port)."""

from __future__ import annotations

from collections.abc import Callable

from ..clients.probes import Prober
from ..model.topology import Node
from .base import StatusView

Ready = Callable[[Node, Prober], bool]
Status = Callable[[Node, StatusView], tuple[str, str]]


def http(path: str, ok: tuple[int, ...] = (200,), timeout: float = 2.0) -> tuple[Ready, Status]:
    """Ready when ``GET path`` on the node's port answers one of ``ok``; status says which code it got."""

    def code(node: Node, probe: Prober) -> int:
        return probe.http_get(node.address, node.port, path, timeout=timeout)[0]

    def ready(node: Node, probe: Prober) -> bool:
        return code(node, probe) in ok

    def status(node: Node, view: StatusView) -> tuple[str, str]:
        got = code(node, view.probe)
        return ("ok" if got in ok else f"http {got}"), ""

    return ready, status


def listening(timeout: float = 3.0) -> tuple[Ready, Status]:
    """Ready when the node's port accepts a TCP connection within ``timeout`` seconds.

    A listening port answers at once; the time goes to starting the probe (on a fleet host: a bash over
    SSH), which took more than 1 s on the shared 2-core box under load and showed running nodes as down.
    """

    def ready(node: Node, probe: Prober) -> bool:
        return probe.tcp_open(node.address, node.port, timeout=timeout)

    def status(node: Node, view: StatusView) -> tuple[str, str]:
        return ("ok" if ready(node, view.probe) else "down"), ""

    return ready, status
