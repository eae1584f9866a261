"""`python -m deploy.clients.unixsock http|line SOCKET`: one request to a unix socket, from stdin to stdout.

Run on a host over SSH, it lets the operator talk to that host's supervisord (XML-RPC over HTTP) and HAProxy
runtime API without forwarding anything: sshd forwards nothing (DisableForwarding), and each request is one
command over the host's master connection.

- ``http SOCKET``: POST stdin (an XML-RPC request) to /RPC2, print the response body.
- ``line SOCKET``: send stdin (one runtime API command), print everything until HAProxy closes.
"""

from __future__ import annotations

import http.client
import socket
import sys

TIMEOUT_S = 60.0


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = TIMEOUT_S) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def post(path: str, body: bytes) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(path)
    try:
        conn.request("POST", "/RPC2", body, {"Content-Type": "text/xml"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def line(path: str, command: bytes) -> bytes:
    return _talk(path, command.rstrip(b"\n") + b"\n", TIMEOUT_S)


def read_all(path: str, timeout: float = TIMEOUT_S) -> bytes:
    """Everything a socket that speaks first sends before it closes (uWSGI's stats socket: one JSON)."""
    return _talk(path, b"", timeout)


def _talk(path: str, send: bytes, timeout: float) -> bytes:
    """Send ``send`` (if any), then read until the other side closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        if send:
            s.sendall(send)
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def main(argv: list[str]) -> int:
    mode, path = argv
    data = sys.stdin.buffer.read()
    try:
        if mode == "http":
            status, body = post(path, data)
            sys.stdout.buffer.write(body)
            return 0 if status == 200 else 1
        sys.stdout.buffer.write(line(path, data))
        return 0
    except OSError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
