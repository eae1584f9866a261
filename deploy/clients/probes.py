"""Small network probes with hard timeouts, and a poller that waits for a condition.

The module-level probes run here. A :class:`Prober` runs the same probes from wherever a node can be
probed: :class:`LocalProber` from this machine, :class:`RemoteProber` on a host through its transport
(curl and bash's /dev/tcp there), so a firewalled host is probed from itself.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class WaitTimeout(RuntimeError):
    pass


def tcp_open(address: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_get(
    address: str, port: int, path: str = "/", host: str | None = None, timeout: float = 2.0
) -> tuple[int, dict[str, str], bytes]:
    """GET with a Host header; returns (status, headers, body). Raises OSError when unreachable."""
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host or address})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def http_json(address: str, port: int, path: str, timeout: float = 2.0) -> tuple[int, Any]:
    status, _headers, body = http_get(address, port, path, timeout=timeout)
    try:
        return status, json.loads(body or b"null")
    except ValueError:
        return status, None


class Prober(Protocol):
    def http_get(
        self, address: str, port: int, path: str = "/", host: str | None = None, timeout: float = 2.0
    ) -> tuple[int, dict[str, str], bytes]: ...

    def tcp_open(self, address: str, port: int, timeout: float = 1.0) -> bool: ...


class LocalProber:
    def http_get(
        self, address: str, port: int, path: str = "/", host: str | None = None, timeout: float = 2.0
    ) -> tuple[int, dict[str, str], bytes]:
        return http_get(address, port, path, host, timeout)

    def tcp_open(self, address: str, port: int, timeout: float = 1.0) -> bool:
        return tcp_open(address, port, timeout)


def curl_argv(address: str, port: int, path: str, host: str | None, timeout: float) -> list[str]:
    """curl printing the status line, the headers and the body of one GET (``-i``)."""
    url = f"http://{address}:{port}{path}"
    return ["curl", "-s", "-i", "--max-time", f"{timeout:g}", "-H", f"Host: {host or address}", url]


def parse_curl(output: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of ``curl -i`` output (CRLF or, after a text-mode pipe, LF line ends)."""
    head, _sep, body = output.replace(b"\r\n", b"\n").partition(b"\n\n")
    lines = head.decode("latin-1").split("\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _colon, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, body


def tcp_argv(address: str, port: int, timeout: float) -> list[str]:
    """Exit 0 when ``address:port`` accepts a TCP connection within ``timeout`` (bash's /dev/tcp)."""
    return ["timeout", f"{timeout:g}", "bash", "-c", f"exec 3<>/dev/tcp/{address}/{port}"]


class RemoteProber:
    """Probes run on a host (through its transport): for nodes only reachable from their own host."""

    def __init__(self, run: Callable[..., Any]) -> None:
        self._run = run  # a transport's run(argv, input=None, timeout=..., check=...)

    def http_get(
        self, address: str, port: int, path: str = "/", host: str | None = None, timeout: float = 2.0
    ) -> tuple[int, dict[str, str], bytes]:
        out = self._run(curl_argv(address, port, path, host, timeout), timeout=timeout + 10, check=False)
        if out.returncode == 28:
            raise TimeoutError(f"GET http://{address}:{port}{path} timed out after {timeout:g}s")
        if out.returncode != 0 or not out.stdout:
            raise ConnectionRefusedError(f"GET http://{address}:{port}{path}: curl exit {out.returncode}")
        return parse_curl(out.stdout.encode("latin-1", "replace"))

    def tcp_open(self, address: str, port: int, timeout: float = 1.0) -> bool:
        return self._run(tcp_argv(address, port, timeout), timeout=timeout + 10, check=False).returncode == 0


def wait_for(check: Callable[[], T | None], what: str, timeout: float, interval: float = 0.25) -> T:
    """Poll ``check`` until it returns a truthy value; raise WaitTimeout naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            value = check()
            if value:
                return value
        except (OSError, ValueError, http.client.HTTPException) as exc:
            last_error = f" (last error: {exc})"
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}{last_error}")
        time.sleep(interval)
