"""database_report(): the router's view of the data tier, for /readyz and metrics. Every probe is bounded by
DBROUTER CONNECT_TIMEOUT (own short-lived connection with a deadline), so a hung node cannot hang /readyz."""

from __future__ import annotations

import time
from typing import Any

from . import decision, metrics
from .conf import get_config
from .health import get_registry
from .lsn import format_lsn


def database_report() -> dict[str, Any]:
    from .probe import probe_primary_lsn

    cfg = get_config()
    registry = get_registry()
    primary: dict[str, Any]
    try:
        lsn = probe_primary_lsn()
    except Exception as exc:
        primary = {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()}
    else:
        registry.note_primary_lsn(lsn)
        primary = {"ok": True, "lsn": format_lsn(lsn)}
    replicas = [replica_entry(alias, registry) for alias in cfg.read_aliases]
    return {"primary": primary, "replicas": replicas, "counters": metrics.counters()}


def replica_entry(alias: str, registry: Any) -> dict[str, Any]:
    cfg = get_config()
    snap = registry.snapshot(alias, force=True)
    entry: dict[str, Any] = {
        "alias": alias,
        "ok": snap is not None,
        "in_recovery": None if snap is None else snap.in_recovery,
        "lag_bytes": None if snap is None else decision.lag_bytes(snap, registry.primary_lsn()),
        "lag_seconds": None if snap is None else decision.lag_seconds(snap),
        "state": decision.assess(
            snap, down=snap is None, min_lsn=None, primary_lsn=registry.primary_lsn(), config=cfg
        ),
    }
    if snap is not None and snap.replay_lsn is not None:
        entry["replay_lsn"] = format_lsn(snap.replay_lsn)
    until = registry.down_until(alias)
    if until is not None:
        # Wall-clock epoch seconds (the registry keeps monotonic time).
        entry["down_until"] = round(time.time() + (until - time.monotonic()), 3)
        error = registry.last_error(alias)
        if error:
            entry["error"] = error
    return entry
