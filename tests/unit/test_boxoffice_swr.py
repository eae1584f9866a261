"""boxoffice.swr: stale-while-revalidate with a lock key and generation-based invalidation (pure)."""

from __future__ import annotations

from typing import Any

from boxoffice import swr


class FakeCache:
    """The slice of Django's cache API that swr uses, with optional 'dead' behaviour (every op a miss)."""

    def __init__(self, dead: bool = False) -> None:
        self.data: dict[str, Any] = {}
        self.dead = dead

    def get(self, key: str, default: Any = None) -> Any:
        return default if self.dead else self.data.get(key, default)

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        return {} if self.dead else {k: self.data[k] for k in keys if k in self.data}

    def add(self, key: str, value: Any, timeout: float | None = None) -> bool:
        if self.dead or key in self.data:
            return False
        self.data[key] = value
        return True

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        if not self.dead:
            self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


class Builder:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return f"v{self.calls}"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def get(cache: FakeCache, build: Builder, clock: Clock, **kw: Any) -> str:
    return swr.get_or_build(
        cache, "k", build, fresh=2.0, ttl=60, gen_key="g", now=clock, sleep=lambda s: None, **kw
    )


def test_miss_builds_once_then_serves_from_cache() -> None:
    cache, build, clock = FakeCache(), Builder(), Clock()
    assert get(cache, build, clock) == "v1"
    assert get(cache, build, clock) == "v1"
    assert build.calls == 1
    assert "k:lock" not in cache.data  # the lock is released after the build


def test_entry_older_than_fresh_is_rebuilt() -> None:
    cache, build, clock = FakeCache(), Builder(), Clock()
    get(cache, build, clock)
    clock.t += 1.9
    assert get(cache, build, clock) == "v1"
    clock.t += 0.2
    assert get(cache, build, clock) == "v2"


def test_invalidate_makes_the_next_read_rebuild() -> None:
    cache, build, clock = FakeCache(), Builder(), Clock()
    get(cache, build, clock)
    swr.invalidate(cache, "g")
    assert get(cache, build, clock) == "v2"
    assert get(cache, build, clock) == "v2"
    swr.invalidate(cache, "g")
    assert get(cache, build, clock) == "v3"


def test_stale_value_is_served_while_another_caller_holds_the_lock() -> None:
    cache, build, clock = FakeCache(), Builder(), Clock()
    get(cache, build, clock)
    swr.invalidate(cache, "g")
    cache.add("k:lock", 1)  # another process is rebuilding
    assert get(cache, build, clock) == "v1"
    assert build.calls == 1


def test_cold_miss_waits_for_the_lock_holder_instead_of_stampeding() -> None:
    cache, build, clock = FakeCache(), Builder(), Clock()
    cache.add("k:lock", 1)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:  # the lock holder finishes meanwhile
            cache.set("k", {"value": "theirs", "built_at": clock.t, "gen": None})

    value = swr.get_or_build(cache, "k", build, fresh=2.0, ttl=60, gen_key="g", now=clock, sleep=sleep)
    assert value == "theirs"
    assert build.calls == 0
    assert len(sleeps) == 3


def test_cold_miss_builds_itself_when_the_lock_holder_is_too_slow() -> None:
    cache, build, clock = FakeCache(), Builder(), Clock()
    cache.add("k:lock", 1)
    assert get(cache, build, clock, wait=0.1) == "v1"
    assert build.calls == 1


def test_dead_cache_builds_every_time_without_waiting() -> None:
    cache, build, clock = FakeCache(dead=True), Builder(), Clock()
    slept: list[float] = []
    for _ in range(3):
        swr.get_or_build(cache, "k", build, fresh=2.0, ttl=60, gen_key="g", now=clock, sleep=slept.append)
    assert build.calls == 3
    assert slept == []


def test_a_none_value_is_cached_too() -> None:
    cache, clock = FakeCache(), Clock()
    calls: list[int] = []

    def build() -> None:
        calls.append(1)

    for _ in range(2):
        assert swr.get_or_build(cache, "k", build, fresh=2.0, ttl=60, now=clock) is None
    assert len(calls) == 1


def test_is_fresh_rejects_foreign_or_future_entries() -> None:
    assert swr.is_fresh({"value": 1, "built_at": 10.0, "gen": "a"}, "a", 11.0, 2.0)
    assert not swr.is_fresh({"value": 1, "built_at": 10.0, "gen": "a"}, "b", 11.0, 2.0)
    assert not swr.is_fresh({"value": 1, "built_at": 20.0, "gen": None}, None, 11.0, 2.0)
    assert not swr.is_fresh("garbage", None, 11.0, 2.0)
    assert not swr.is_fresh({"value": 1}, None, 11.0, 2.0)
