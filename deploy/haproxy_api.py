"""HAProxy's runtime API over its admin unix socket (drain, maint, ready, show stat)."""

from __future__ import annotations

import csv
import io
import socket
from pathlib import Path


class HAProxyAPI:
    def __init__(self, sock: Path, timeout: float = 3.0) -> None:
        self.sock = sock
        self.timeout = timeout

    def command(self, cmd: str) -> str:
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

    def stats(self) -> list[dict[str, str]]:
        """`show stat` as one dict per proxy/server row."""
        text = self.command("show stat").lstrip("# ")
        return list(csv.DictReader(io.StringIO(text)))

    def server(self, backend: str, server: str) -> dict[str, str]:
        for row in self.stats():
            if row["pxname"] == backend and row["svname"] == server:
                return row
        raise KeyError(f"no server {backend}/{server} in HAProxy")

    def set_state(self, backend: str, server: str, state: str) -> None:
        """state: ready | drain | maint."""
        out = self.command(f"set server {backend}/{server} state {state}").strip()
        if out:
            raise RuntimeError(f"HAProxy refused 'set server {backend}/{server} state {state}': {out}")
