"""dbrouter.runtime: the process-wide config, registry and rotation, wired without Django settings."""

from __future__ import annotations

import time

import pytest

from dbrouter import probe, runtime
from dbrouter.conf import RouterConfig
from dbrouter.decision import ReplicaSnapshot


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> RouterConfig:
    """A config as if read from settings, and no registry yet (both restored after the test)."""
    cfg = RouterConfig(read_aliases=("db2",), connect_timeout=1.5, lsn_cache_seconds=60.0, down_seconds=7.0)
    monkeypatch.setattr(runtime, "_config", cfg)
    monkeypatch.setattr(runtime, "_registry", None)
    return cfg


def test_registry_is_built_once_and_probes_with_the_configured_timeout(
    loaded: RouterConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, float]] = []

    def fake_probe(alias: str, timeout: float) -> ReplicaSnapshot:
        calls.append((alias, timeout))
        return ReplicaSnapshot(True, 10, 10, 0.0, taken_at=time.monotonic())

    monkeypatch.setattr(probe, "probe_replica", fake_probe)
    registry = runtime.get_registry()
    assert runtime.get_registry() is registry
    assert registry.snapshot("db2") is not None
    assert calls == [("db2", loaded.connect_timeout)]
    registry.mark_down("db2")
    assert registry.down_until("db2") == pytest.approx(time.monotonic() + loaded.down_seconds, abs=1.0)


def test_reset_forgets_config_and_registry(loaded: RouterConfig) -> None:
    registry = runtime.get_registry()
    assert runtime.get_config() is loaded
    runtime.on_setting_changed(setting="CACHES")  # unrelated settings keep both
    assert runtime.get_registry() is registry
    runtime.on_setting_changed(setting="DBROUTER")
    assert runtime._config is None and runtime._registry is None


def test_rotation_is_one_counter_per_process() -> None:
    first = runtime.next_rotation()
    assert [runtime.next_rotation() for _ in range(3)] == [first + 1, first + 2, first + 3]
