"""The per-process health registry: snapshot cache, circuit breaker, probe-back, with a fake clock."""

from __future__ import annotations

import threading

import pytest

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


def test_force_probes_a_down_alias_and_an_answer_ends_the_down_state() -> None:
    # /readyz reports what the node answers now: a replica that came back within DOWN_SECONDS of its last
    # failure reads as what it is (here: lagging), not "down" from the breaker's memory.
    reg, probe, _ = make()
    reg.mark_down("db2", "server login has been failing")
    assert reg.snapshot("db2") is None  # routing still skips it without a probe
    assert probe.calls == []
    probe.replay = 300
    snap = reg.snapshot("db2", force=True)
    assert snap is not None and snap.replay_lsn == 300
    assert probe.calls == ["db2"]
    assert not reg.is_down("db2")
    assert reg.down_until("db2") is None and reg.last_error("db2") is None
    assert reg.snapshot("db2") is snap  # and routing uses the fresh answer


def test_force_on_a_still_failing_alias_renews_the_down_state() -> None:
    reg, probe, clock = make()
    probe.failing.add("db2")
    reg.snapshot("db2")
    clock.now += 3.0
    assert reg.snapshot("db2", force=True) is None
    assert probe.calls == ["db2", "db2"]
    assert reg.down_until("db2") == clock.now + 5.0
    assert reg.last_error("db2") == "OSError: connection refused"


class HookedRegistry(HealthRegistry):
    """Signals when the thread named "second" asks for the alias lock: it waits for the probe in flight."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.waiting = threading.Event()

    def _alias_lock(self, alias: str) -> threading.Lock:
        if threading.current_thread().name == "second":
            self.waiting.set()
        return super()._alias_lock(alias)


class SlowProbe:
    """Blocks until released, like a probe of a hung node, then answers or fails."""

    def __init__(self, fails: bool) -> None:
        self.fails = fails
        self.calls: list[str] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, alias: str) -> ReplicaSnapshot:
        self.calls.append(alias)
        self.started.set()
        assert self.release.wait(5)
        if self.fails:
            raise TimeoutError("timed out")
        return ReplicaSnapshot(True, 100, 100, 0.0, taken_at=0.0)


@pytest.mark.parametrize("fails", [False, True])
def test_callers_waiting_for_a_probe_in_flight_take_its_outcome(fails: bool) -> None:
    # Without this, reports behind a hung node would each probe again once the one before gave up.
    probe = SlowProbe(fails)
    reg = HookedRegistry(probe, cache_seconds=0.05, down_seconds=5.0, clock=Clock())
    results: dict[str, ReplicaSnapshot | None] = {}

    def report(name: str) -> None:
        results[name] = reg.snapshot("db2", force=True)

    first = threading.Thread(target=report, args=("first",))
    second = threading.Thread(target=report, args=("second",), name="second")
    first.start()
    assert probe.started.wait(5)
    second.start()
    assert reg.waiting.wait(5)
    probe.release.set()
    first.join(5)
    second.join(5)
    assert probe.calls == ["db2"]
    assert results["second"] is results["first"]
    assert (results["first"] is None) is fails


def test_primary_lsn_only_moves_forward() -> None:
    reg, _, _ = make()
    assert reg.primary_lsn() is None
    reg.note_primary_lsn(500)
    reg.note_primary_lsn(300)
    reg.note_primary_lsn(None)
    assert reg.primary_lsn() == 500
