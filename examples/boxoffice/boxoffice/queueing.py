"""The waiting room's rules as arithmetic: how many to admit, what a waiting buyer is told. Pure."""

from __future__ import annotations

import math
from typing import Any

# Buyers are told to poll again after this long at most, however far back in line.
MAX_POLL_AFTER_S = 10


def admission_budget(capacity: int, active: int, rate: int, since_last_s: float | None) -> int:
    """How many to admit now: the checkout's free room, at most ``rate`` per second since the last
    admissions (counted up to one second back: a quiet spell does not let a burst through)."""
    elapsed = 1.0 if since_last_s is None else max(0.0, min(1.0, since_last_s))
    return max(0, min(capacity - active, int(rate * elapsed)))


def closed(snap: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to everyone while the onsale is off or sold out; None while it sells."""
    if not snap["enabled"]:
        return {"state": "open", "message": "the waiting room is off: buy directly"}
    if snap["tickets_left"] <= 0:
        return {"state": "sold_out", "message": "sold out"}
    return None


def waiting(ordinal: int, snap: dict[str, Any]) -> dict[str, Any]:
    """A waiting place's answer: every place up to ``admitted_through`` has left the line, so the position
    is the difference (at least 1 behind a stale snapshot); come back sooner the nearer the front."""
    position = max(1, ordinal - snap["admitted_through"])
    wait = math.ceil(position / max(1, snap["rate"]))
    return {
        "state": "waiting",
        "position": position,
        "estimated_wait_s": wait,
        "poll_after_s": max(1, min(MAX_POLL_AFTER_S, wait // 3)),
    }
