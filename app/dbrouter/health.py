"""Per-process health of the read candidates: cached probe snapshots and the down (circuit breaker) state.

The probe and the clock are injected, so the state machine is unit-tested without a database; the process's
registry is built by dbrouter.runtime.get_registry().
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .decision import ReplicaSnapshot

Probe = Callable[[str], ReplicaSnapshot]


class HealthRegistry:
    def __init__(
        self,
        probe: Probe,
        *,
        cache_seconds: float,
        down_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._cache_seconds = cache_seconds
        self._down_seconds = down_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._alias_locks: dict[str, threading.Lock] = {}
        self._snaps: dict[str, ReplicaSnapshot] = {}
        self._errors: dict[str, str] = {}
        self._down_until: dict[str, float] = {}
        # Finished probes per alias (success or failure): a caller that waited for another thread's probe
        # takes that probe's outcome instead of probing again.
        self._probes: dict[str, int] = {}
        self._primary_lsn: int | None = None

    def _alias_lock(self, alias: str) -> threading.Lock:
        with self._lock:
            return self._alias_locks.setdefault(alias, threading.Lock())

    def is_down(self, alias: str) -> bool:
        until = self._down_until.get(alias)
        return until is not None and self._clock() < until

    def down_until(self, alias: str) -> float | None:
        """Clock time until which alias is skipped, or None when it is not (or no longer) down."""
        until = self._down_until.get(alias)
        return until if until is not None and self._clock() < until else None

    def mark_down(self, alias: str, error: str = "") -> None:
        """Skip alias for down_seconds; after that the next routing decision probes it again."""
        with self._lock:
            self._down_until[alias] = self._clock() + self._down_seconds
            self._snaps.pop(alias, None)
            if error:
                self._errors[alias] = error

    def last_error(self, alias: str) -> str | None:
        return self._errors.get(alias)

    def snapshot(self, alias: str, *, force: bool = False) -> ReplicaSnapshot | None:
        """A snapshot younger than cache_seconds, probing if needed; None while down or if the probe fails
        (which marks the alias down).

        ``force`` probes now, past a fresh snapshot (the router's second look at a replica that seemed behind
        the caller's LSN) and past the down state (reports such as /readyz say what the node answers now, not
        what the breaker remembers). A success ends the down state, a failure renews it.
        One thread probes an alias at a time; the others wait for it and take its outcome, so callers never
        queue probe after probe behind a hung node.
        """
        seen = self._probes.get(alias, 0)
        if not force:
            if self.is_down(alias):
                return None
            snap = self._fresh(alias)
            if snap is not None:
                return snap
        with self._alias_lock(alias):
            if self._probes.get(alias, 0) != seen:
                return self._snaps.get(alias)  # probed meanwhile by another thread; None if that failed
            if not force and self.is_down(alias):
                return None
            probed: ReplicaSnapshot | None = None
            try:
                probed = self._probe(alias)
            except Exception as exc:  # any failure to probe means "do not read from it for a while"
                self.mark_down(alias, f"{type(exc).__name__}: {exc}".strip())
            with self._lock:
                self._probes[alias] = self._probes.get(alias, 0) + 1
                if probed is not None:
                    self._snaps[alias] = probed
                    self._down_until.pop(alias, None)
                    self._errors.pop(alias, None)
            return probed

    def cached(self, alias: str) -> ReplicaSnapshot | None:
        """The last snapshot, however old (for reports); None if never probed or down."""
        return self._snaps.get(alias)

    def _fresh(self, alias: str) -> ReplicaSnapshot | None:
        snap = self._snaps.get(alias)
        if snap is None or self._clock() - snap.taken_at >= self._cache_seconds:
            return None
        return snap

    def note_primary_lsn(self, lsn: int | None) -> None:
        """Remember the highest primary WAL position seen (from post-write captures): extra lag signal."""
        if lsn is None:
            return
        with self._lock:
            if self._primary_lsn is None or lsn > self._primary_lsn:
                self._primary_lsn = lsn

    def primary_lsn(self) -> int | None:
        return self._primary_lsn
