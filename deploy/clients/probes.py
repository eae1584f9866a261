"""Small network probes with hard timeouts, and a poller that waits for a condition."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

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
