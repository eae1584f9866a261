"""Stale-while-revalidate over any Django-like cache (get_many/get/add/set/delete): pure, no Django setup.

An entry is ``{"value": ..., "built_at": epoch seconds, "gen": generation token}``. It is fresh while it
is younger than ``fresh`` seconds AND its generation matches the current token stored at ``gen_key``;
writers invalidate by storing a new token (one atomic set, no read-modify-write). When an entry is stale,
exactly one caller (the one that wins ``cache.add`` on a short lock key) rebuilds it while every other
caller keeps serving the stale value: an expiring hot key never sends a herd to the database.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class CacheLike(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...
    def get_many(self, keys: list[str]) -> dict[str, Any]: ...
    def add(self, key: str, value: Any, timeout: float | None = ...) -> bool: ...
    def set(self, key: str, value: Any, timeout: float | None = ...) -> Any: ...
    def delete(self, key: str) -> Any: ...


def is_fresh(entry: Any, gen: Any, now: float, fresh: float) -> bool:
    return (
        isinstance(entry, dict)
        and entry.get("gen") == gen
        and isinstance(entry.get("built_at"), int | float)
        and 0 <= now - entry["built_at"] < fresh
    )


def get_or_build(
    cache: CacheLike,
    key: str,
    build: Callable[[], T],
    *,
    fresh: float,
    ttl: int,
    gen_key: str | None = None,
    lock_ttl: int = 5,
    wait: float = 0.3,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """The cached value of ``key`` (built by ``build`` when missing or stale), see the module docstring.

    ``ttl`` (how long memcached keeps it) should be well above ``fresh``: the gap is the window in which
    a stale value can be served while one caller rebuilds.
    """
    got = cache.get_many([key, gen_key] if gen_key else [key])
    entry = got.get(key)
    gen = got.get(gen_key) if gen_key else None
    if is_fresh(entry, gen, now(), fresh):
        return entry["value"]
    lock_key = f"{key}:lock"
    if cache.add(lock_key, 1, lock_ttl):
        try:
            value = build()
            cache.set(key, {"value": value, "built_at": now(), "gen": gen}, ttl)
            return value
        finally:
            cache.delete(lock_key)
    if isinstance(entry, dict) and "value" in entry:
        return entry["value"]  # someone else is rebuilding: serve the stale value meanwhile
    if cache.get(lock_key) is None:
        return build()  # nobody holds the lock: the cache is down (or just released it); don't wait
    # Cold miss while another caller builds: wait briefly for its result rather than stampede.
    waited = 0.0
    while waited < wait:
        sleep(0.02)
        waited += 0.02
        entry = cache.get(key)
        if isinstance(entry, dict) and "value" in entry:
            return entry["value"]
    return build()


def invalidate(cache: CacheLike, gen_key: str, ttl: int = 86400) -> None:
    """Make every entry tagged with the current generation stale (served stale once, then rebuilt)."""
    cache.set(gen_key, uuid.uuid4().hex, ttl)
