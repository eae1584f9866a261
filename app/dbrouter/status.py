"""database_report(): the router's view of the data tier, for /readyz and metrics.

The primary and every replica are probed in parallel (own short-lived or kept connections, each bounded
by CONNECT_TIMEOUT) and the whole report by ``timeout``: a hung node is reported as not answering, never
waited for, so the report (and /readyz) always answers in time. Replicas are probed even while the router
holds them down (a forced snapshot): the report says what each node answers now, so a replica that is back
reads as its state (e.g. lagging) and not as "down" for the rest of DOWN_SECONDS.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from typing import Any

from . import decision, metrics, probe, runtime
from .lsn import format_lsn

# Shared and bounded: a hung node parks at most a few threads, never one per report.
_pool = cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix="dbrouter-report")


def database_report(timeout: float | None = None) -> dict[str, Any]:
    cfg = runtime.get_config()
    registry = runtime.get_registry()
    end = time.monotonic() + (cfg.connect_timeout if timeout is None else timeout)
    primary_f = _pool.submit(probe.probe_primary_lsn, cfg.primary_alias, cfg.connect_timeout)
    snap_fs = {alias: _pool.submit(registry.snapshot, alias, force=True) for alias in cfg.read_aliases}
    primary: dict[str, Any]
    try:
        lsn = primary_f.result(timeout=max(0.0, end - time.monotonic()))
    except cf.TimeoutError:
        primary = {"ok": False, "error": "no answer within the report's deadline"}
    except Exception as exc:
        primary = {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()}
    else:
        registry.note_primary_lsn(lsn)
        primary = {"ok": True, "lsn": format_lsn(lsn)}
    replicas = []
    for alias, fut in snap_fs.items():
        try:
            replicas.append(
                replica_entry(alias, registry, fut.result(timeout=max(0.0, end - time.monotonic())))
            )
        except cf.TimeoutError:
            replicas.append(replica_entry(alias, registry, None, "no answer within the report's deadline"))
    return {"primary": primary, "replicas": replicas, "counters": metrics.counters()}


def replica_entry(alias: str, registry: Any, snap: Any, late: str = "") -> dict[str, Any]:
    """One read node's state from its snapshot (None: down, or ``late``: it did not answer in time)."""
    cfg = runtime.get_config()
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
    if late:
        entry["error"] = late
    until = registry.down_until(alias)
    if until is not None:
        # Wall-clock epoch seconds (the registry keeps monotonic time).
        entry["down_until"] = round(time.time() + (until - time.monotonic()), 3)
        error = registry.last_error(alias)
        if error:
            entry["error"] = error
    return entry
