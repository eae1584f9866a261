"""Routing counters per alias and reason, in process memory, thread-safe.

counters()["db2"]["replica"] = reads routed to db2; counters()["default"]["lsn-behind"] = reads sent to the
primary because no replica had replayed the user's last write; counters()["db3"]["lagging"] = times db3 was
skipped for lag when a replica was being chosen. Counts are per routing decision (router call), which is
about one per query.
"""

from __future__ import annotations

import threading
from collections import defaultdict


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def incr(self, alias: str, reason: str, n: int = 1) -> None:
        with self._lock:
            self._data[alias][reason] += n

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {alias: dict(sorted(reasons.items())) for alias, reasons in sorted(self._data.items())}

    def reset(self) -> None:
        with self._lock:
            self._data.clear()


_COUNTERS = Counters()


def counters() -> dict[str, dict[str, int]]:
    """A copy of this process's counters: {"<alias>": {"<reason>": n}}."""
    return _COUNTERS.snapshot()


def incr(alias: str, reason: str, n: int = 1) -> None:
    _COUNTERS.incr(alias, reason, n)


def reset() -> None:
    """Forget all counts (tests, or a metrics scraper that wants deltas)."""
    _COUNTERS.reset()
