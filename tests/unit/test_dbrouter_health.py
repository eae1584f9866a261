"""The per-process health registry: snapshot cache, circuit breaker, probe-back, with a fake clock."""

from __future__ import annotations

from dbrouter.decision import ReplicaSnapshot
from dbrouter.health import HealthRegistry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeProbe:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[str] = []
        self.failing: set[str] = set()
        self.replay = 100

    def __call__(self, alias: str) -> ReplicaSnapshot:
        self.calls.append(alias)
        if alias in self.failing:
            raise OSError("connection refused")
        return ReplicaSnapshot(True, self.replay, self.replay, 0.0, taken_at=self.clock())


def make():
    clock = Clock()
    probe = FakeProbe(clock)
    return HealthRegistry(probe, cache_seconds=0.05, down_seconds=5.0, clock=clock), probe, clock


def test_snapshot_is_cached_for_cache_seconds() -> None:
    reg, probe, clock = make()
    assert reg.snapshot("db2").replay_lsn == 100
    probe.replay = 200
    clock.now += 0.049
    assert reg.snapshot("db2").replay_lsn == 100
    clock.now += 0.002
    assert reg.snapshot("db2").replay_lsn == 200
    assert probe.calls == ["db2", "db2"]


def test_force_probes_even_when_fresh() -> None:
    reg, probe, _ = make()
    reg.snapshot("db2")
    reg.snapshot("db2", force=True)
    assert probe.calls == ["db2", "db2"]


def test_failed_probe_marks_down_and_is_not_retried_until_down_seconds() -> None:
    reg, probe, clock = make()
    probe.failing.add("db2")
    assert reg.snapshot("db2") is None
    assert reg.is_down("db2")
    assert reg.last_error("db2") == "OSError: connection refused"
    clock.now += 4.9
    assert reg.snapshot("db2") is None
    assert probe.calls == ["db2"]  # no probe while down


def test_probed_back_after_down_seconds() -> None:
    reg, probe, clock = make()
    reg.mark_down("db2", "boom")
    assert reg.down_until("db2") == 1005.0
    clock.now += 5.0
    assert not reg.is_down("db2")
    assert reg.snapshot("db2") is not None
    assert probe.calls == ["db2"]
    assert reg.last_error("db2") is None
    assert reg.down_until("db2") is None


def test_still_failing_after_down_seconds_is_marked_down_again() -> None:
    reg, probe, clock = make()
    probe.failing.add("db2")
    reg.snapshot("db2")
    clock.now += 5.0
    assert reg.snapshot("db2") is None
    assert reg.down_until("db2") == clock.now + 5.0


def test_mark_down_drops_the_cached_snapshot() -> None:
    reg, _, _ = make()
    reg.snapshot("db2")
    reg.mark_down("db2")
    assert reg.cached("db2") is None
    assert reg.snapshot("db2") is None


def test_primary_lsn_only_moves_forward() -> None:
    reg, _, _ = make()
    assert reg.primary_lsn() is None
    reg.note_primary_lsn(500)
    reg.note_primary_lsn(300)
    reg.note_primary_lsn(None)
    assert reg.primary_lsn() == 500
