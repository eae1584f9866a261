"""HAProxy's runtime API: pure command builders, one parser of `show stat`, and a socket client.

The builders return the exact command line (tested against exact strings); :class:`RuntimeAPI` sends
them over the admin unix socket; :func:`drain` and :func:`put_back` are the one sequence every
operation uses to take a server out of rotation and back (rolling deploy, scale, rollback).

drain -> wait until `scur` is 0 -> maint, and back with ready, never drain -> ready: with per-server
maxconn and a standing queue, a server taken from drain straight back to ready stayed UP but never
got another request (field notes).
"""

from __future__ import annotations

import csv
import io
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .probes import wait_for

SHOW_STAT = "show stat"
SHOW_SERVERS_STATE = "show servers state"
STATES = ("ready", "drain", "maint")
# Poll interval while waiting for a server's connections to finish or its checks to pass.
POLL_S = 0.1


class HAProxyError(RuntimeError):
    """HAProxy refused a runtime command; the message quotes the command and the answer."""


# ------------------------------------------------------------------ pure builders
def set_state(backend: str, server: str, state: str) -> str:
    if state not in STATES:
        raise ValueError(f"server state {state!r} is not one of {', '.join(STATES)}")
    return f"set server {backend}/{server} state {state}"


def add_server(backend: str, server: str, args: str) -> str:
    return f"add server {backend}/{server} {args}"


def enable_health(backend: str, server: str) -> str:
    return f"enable health {backend}/{server}"


def del_server(backend: str, server: str) -> str:
    return f"del server {backend}/{server}"


@dataclass(frozen=True)
class ServerStat:
    """One server row of `show stat`: the fields the operations read."""

    backend: str
    server: str
    status: str  # UP, DOWN, MAINT, DRAIN, "UP 1/2", ...
    scur: int  # connections in use now
    qcur: int  # requests waiting in this server's queue

    @property
    def summary(self) -> str:
        return f"{self.status} cur {self.scur} q {self.qcur}"


def parse_stat(text: str) -> dict[str, dict[str, ServerStat]]:
    """`show stat` CSV -> backend -> server -> row (FRONTEND and BACKEND summary rows left out)."""
    out: dict[str, dict[str, ServerStat]] = {}
    for row in csv.DictReader(io.StringIO(text.lstrip("# "))):
        name = row.get("svname", "")
        if not name or name in ("FRONTEND", "BACKEND"):
            continue
        out.setdefault(row["pxname"], {})[name] = ServerStat(
            backend=row["pxname"],
            server=name,
            status=row.get("status", ""),
            scur=int(row.get("scur") or 0),
            qcur=int(row.get("qcur") or 0),
        )
    return out


# ------------------------------------------------------------------ the client
class RuntimeAPI:
    """Commands over the admin socket; ``send`` replaces the socket (unit tests of sequences)."""

    def __init__(self, sock: Path, timeout: float = 3.0, send: Callable[[str], str] | None = None) -> None:
        self.sock = sock
        self.timeout = timeout
        self._send = send or self._socket_send

    def _socket_send(self, cmd: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(self.timeout)
            s.connect(str(self.sock))
            s.sendall(cmd.encode() + b"\n")
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode()

    def command(self, cmd: str) -> str:
        return self._send(cmd)

    def expect(self, cmd: str, answer_prefix: str = "") -> str:
        """Send ``cmd``; HAProxy's answer must start with ``answer_prefix`` ("" = must be empty)."""
        out = self.command(cmd).strip()
        if (answer_prefix and not out.startswith(answer_prefix)) or (not answer_prefix and out):
            raise HAProxyError(f"HAProxy refused {cmd!r}: {out}")
        return out

    def servers(self, backend: str) -> dict[str, ServerStat]:
        return parse_stat(self.command(SHOW_STAT)).get(backend, {})

    def server(self, backend: str, name: str) -> ServerStat | None:
        return self.servers(backend).get(name)

    def set_state(self, backend: str, server: str, state: str) -> None:
        self.expect(set_state(backend, server, state))


def drain(api: RuntimeAPI, backend: str, server: str, timeout_s: float) -> None:
    """Out of rotation: drain, wait until its in-flight requests are done (bounded), then maint."""
    api.set_state(backend, server, "drain")
    wait_for(
        lambda: (row := api.server(backend, server)) is not None and row.scur == 0,
        f"{server}'s in-flight requests to finish",
        timeout_s,
        POLL_S,
    )
    api.set_state(backend, server, "maint")


def put_back(api: RuntimeAPI, backend: str, server: str, timeout_s: float) -> None:
    """Back into rotation from maint: ready, then wait until HAProxy's checks mark it UP."""
    api.set_state(backend, server, "ready")
    wait_for(
        lambda: (row := api.server(backend, server)) is not None and row.status == "UP",
        f"HAProxy to mark {server} UP",
        timeout_s,
        POLL_S,
    )
