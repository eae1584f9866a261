"""The routing decision, as pure functions of plain values (no Django, no I/O): unit-tested with fakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .conf import RouterConfig

# Reasons, used both as routing outcomes and as counter names.
REPLICA = "replica"  # served by a healthy, caught-up replica
WRITE = "write"  # db_for_write
PINNED_WRITE = "pinned-write"  # the context wrote earlier: read your own writes from the primary
PINNED_TXN = "pinned-txn"  # a transaction is open on the primary
PINNED_MODEL = "pinned-model"  # model listed in PRIMARY_MODELS
NO_CONTEXT = "no-context"  # no request/task context and READS_OUTSIDE_CONTEXT = "primary"
LSN_BEHIND = "lsn-behind"  # replica has not replayed the caller's last commit
LAGGING = "lagging"  # replica behind MAX_LAG_BYTES / MAX_LAG_SECONDS
DOWN = "down"  # connection/probe failed, in its DOWN_SECONDS penalty
NOT_IN_RECOVERY = "not-in-recovery"  # the node is a primary (e.g. after a failover), not a replica
NO_REPLICA = "no-replica"  # no read aliases configured

# When every replica is skipped, the primary's counter is named after the most telling skip reason.
_FALLBACK_PRIORITY = (LSN_BEHIND, LAGGING, DOWN, NOT_IN_RECOVERY)


@dataclass(frozen=True)
class ReplicaSnapshot:
    """One probe of a read candidate. LSNs are ints; replay_age_seconds = now() - last replayed xact."""

    in_recovery: bool
    receive_lsn: int | None
    replay_lsn: int | None
    replay_age_seconds: float | None
    taken_at: float


@dataclass(frozen=True)
class Decision:
    alias: str
    reason: str
    skipped: tuple[tuple[str, str], ...] = ()


def lag_bytes(snap: ReplicaSnapshot, primary_lsn: int | None = None) -> int | None:
    """Bytes not yet replayed: received-but-not-replayed, and behind the primary's last known LSN."""
    if not snap.in_recovery or snap.replay_lsn is None:
        return None
    gaps = []
    if snap.receive_lsn is not None:
        gaps.append(max(0, snap.receive_lsn - snap.replay_lsn))
    if primary_lsn is not None:
        gaps.append(max(0, primary_lsn - snap.replay_lsn))
    return max(gaps) if gaps else None


def lag_seconds(snap: ReplicaSnapshot) -> float | None:
    """Replay delay in seconds. An idle primary makes the last-replayed timestamp old while the replica is
    fully caught up, so receive <= replay counts as 0 whatever the timestamp says (right after a replica
    restarts, PostgreSQL reports a receive LSN at the start of the streamed segment, below replay)."""
    if not snap.in_recovery:
        return None
    if snap.receive_lsn is not None and snap.replay_lsn is not None and snap.receive_lsn <= snap.replay_lsn:
        return 0.0
    if snap.replay_age_seconds is None:
        return None
    return max(0.0, snap.replay_age_seconds)


def assess(
    snap: ReplicaSnapshot | None,
    *,
    down: bool,
    min_lsn: int | None,
    primary_lsn: int | None,
    config: RouterConfig,
) -> str:
    """REPLICA if this candidate may serve the read, else the reason it is skipped."""
    if down or snap is None:
        return DOWN
    if not snap.in_recovery:
        return NOT_IN_RECOVERY
    behind = lag_bytes(snap, primary_lsn)
    if behind is not None and behind > config.max_lag_bytes:
        return LAGGING
    delay = lag_seconds(snap)
    if delay is not None and delay > config.max_lag_seconds:
        return LAGGING
    if min_lsn is not None and (snap.replay_lsn is None or snap.replay_lsn < min_lsn):
        return LSN_BEHIND
    return REPLICA


def fallback_reason(skipped: Sequence[tuple[str, str]]) -> str:
    reasons = {reason for _, reason in skipped}
    for reason in _FALLBACK_PRIORITY:
        if reason in reasons:
            return reason
    return NO_REPLICA


def choose_replica(
    candidates: Sequence[str], assess_alias: Callable[[str], str], primary: str, start: int = 0
) -> Decision:
    """Round-robin over the candidates that assess REPLICA (start = the context's rotation number), so a
    non-replica candidate (the primary listed among READ_ALIASES) does not skew the spread; else the primary,
    named after why the replicas were skipped."""
    assessed = [(alias, assess_alias(alias)) for alias in candidates]
    eligible = [alias for alias, reason in assessed if reason == REPLICA]
    skipped = tuple((alias, reason) for alias, reason in assessed if reason != REPLICA)
    if eligible:
        return Decision(eligible[start % len(eligible)], REPLICA, skipped)
    return Decision(primary, fallback_reason(skipped), skipped)


def decide_read(
    *,
    has_context: bool,
    wrote: bool,
    in_atomic: bool,
    pinned_model: bool,
    sticky: str | None,
    sticky_reason: str | None,
    sticky_down: bool,
    candidates: Sequence[str],
    rotation: int,
    assess_alias: Callable[[str], str],
    config: RouterConfig,
) -> Decision:
    """Where one read goes. Order of rules: no context, pinned model, pinned write, open transaction on the
    primary, the context's kept choice (unless that replica went down), then a fresh choice."""
    primary = config.primary_alias
    if not has_context and config.reads_outside_context == "primary":
        return Decision(primary, NO_CONTEXT)
    if pinned_model:
        return Decision(primary, PINNED_MODEL)
    if wrote:
        return Decision(primary, PINNED_WRITE)
    if in_atomic:
        return Decision(primary, PINNED_TXN)
    if sticky is not None and sticky_reason is not None and not (sticky != primary and sticky_down):
        return Decision(sticky, sticky_reason)
    return choose_replica(candidates, assess_alias, primary, rotation)
