"""Login throttling on the shared cache: per username and per client address, atomic under concurrency.

Failures are counted in buckets of ``window`` seconds (memcached ``incr``: one atomic step shared by
every web node). An attempt is admitted only while the failures of the current and the previous bucket
add up to fewer than the limit, so no ``window``-long stretch of time ever holds more failures than the
limit (a lockout can last up to two windows). The attempt is counted *before* the password is checked,
so 50 guesses sent at once cannot all slip past the check; a successful login gives its count back.

If the cache cannot count (no node answers), the attempt is admitted: a lost cache node must not lock
every user out. Only the bucket arithmetic is pure; ``admit`` talks to the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    per_username: int
    per_address: int
    window: int  # seconds


class LoginThrottled(Exception):
    """Too many failed logins: refuse without checking the password (answered 429 + Retry-After)."""

    def __init__(self, retry_after: int, scope: str) -> None:
        super().__init__(f"too many failed logins for this {scope}; retry in {retry_after}s")
        self.retry_after = retry_after
        self.scope = scope


def bucket_key(scope: str, ident: str, bucket: int) -> str:
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]  # any username is a valid memcached key
    return f"login-failures:{scope}:{digest}:{bucket}"


def retry_after(now: float, window: int, current_failures: int, limit: int) -> int:
    """Seconds until an attempt can be admitted again (the previous bucket must age out first)."""
    bucket_end = (math.floor(now / window) + 1) * window
    wait = bucket_end - now + (window if current_failures >= limit else 0)
    return max(1, math.ceil(wait))


@dataclass
class Gate:
    """The counts one admitted attempt holds; ``succeeded()`` gives them back."""

    cache: Any
    keys: list[str] = field(default_factory=list)

    def succeeded(self) -> None:
        for key in self.keys:
            with contextlib.suppress(ValueError):  # expired or the node is gone: nothing to give back
                self.cache.decr(key)
        self.keys.clear()


def admit(cache: Any, limits: Limits, username: str, address: str, now: float) -> Gate:
    """Count this attempt against both limits, or raise LoginThrottled (and count nothing)."""
    bucket = math.floor(now / limits.window)
    gate = Gate(cache)
    for scope, ident, limit in (
        ("username", username, limits.per_username),
        ("address", address, limits.per_address),
    ):
        current = bucket_key(scope, ident, bucket)
        cache.add(current, 0, 2 * limits.window + 5)
        try:
            mine = cache.incr(current)
        except ValueError:
            log.warning("login throttle: the cache did not count an attempt (%s); admitted", scope)
            continue
        gate.keys.append(current)
        previous = cache.get(bucket_key(scope, ident, bucket - 1))
        previous = previous if isinstance(previous, int) else 0
        if mine + previous > limit:
            gate.succeeded()  # a refused attempt is not a failure: give every count back
            raise LoginThrottled(retry_after(now, limits.window, mine - 1, limit), scope)
    return gate
