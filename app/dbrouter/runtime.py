"""dbrouter's process-wide state: the loaded config, the replica health registry, the round-robin counter.

Every module that needs one of them imports this module; it imports only modules that hold no state of their
own (conf, health, probe), so nothing it depends on depends on it. The config and the registry are built on
first use and forgotten when a test overrides DBROUTER or DATABASES (the app connects on_setting_changed).
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from django.conf import settings

from . import probe
from .conf import RouterConfig, build_config
from .decision import ReplicaSnapshot
from .health import HealthRegistry

_config: RouterConfig | None = None
_registry: HealthRegistry | None = None
_registry_lock = threading.Lock()
_rotation = itertools.count()


def get_config() -> RouterConfig:
    """settings.DBROUTER, read once per process (until reset())."""
    global _config
    if _config is None:
        raw = getattr(settings, "DBROUTER", {}) or {}
        _config = build_config(raw, tuple(settings.DATABASES))
    return _config


def probe_replica(alias: str) -> ReplicaSnapshot:
    """The registry's probe: one bounded probe of alias, with the current CONNECT_TIMEOUT."""
    return probe.probe_replica(alias, get_config().connect_timeout)


def get_registry() -> HealthRegistry:
    """This process's health registry of the read candidates (built on first use)."""
    global _registry
    if _registry is None:
        with _registry_lock:
            if _registry is None:
                cfg = get_config()
                _registry = HealthRegistry(
                    probe_replica, cache_seconds=cfg.lsn_cache_seconds, down_seconds=cfg.down_seconds
                )
    return _registry


def next_rotation() -> int:
    """A per-process round-robin counter: each new context starts its replica search at the next one."""
    return next(_rotation)


def reset() -> None:
    """Forget the config and the health registry; both are rebuilt from the settings on next use."""
    global _config, _registry
    _config = None
    with _registry_lock:
        _registry = None


def on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("DBROUTER", "DATABASES"):
        reset()
