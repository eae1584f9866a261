"""The onsale waiting room: joining the line, the admission pass, polls, and the purchase's admission check.

Every piece of state is in PostgreSQL (boxoffice.models.Onsale and QueueEntry), so any web or queue node
answers any buyer and a node's restart loses nothing; memcached holds a snapshot of each onsale (what
polls need besides the buyer's own row) and the once-a-second gate of the admission pass.

- Places are dense ordinals 1..N given under the onsale row's lock. Arrivals before ``opens_at`` get
  none until the opening shuffle (a ``secrets.SystemRandom`` shuffle of all of them, in one pass under that
  lock), which happens at the first join or pass after the opening; later arrivals get the next ordinal.
- The admission pass (one at a time per onsale, by ``pg_try_advisory_xact_lock``; any node may run it,
  polls trigger it at most about once a second) times out stale admissions, then admits the next waiting
  places in ordinal order, as many as the checkout capacity has room for and the admission rate allows.
  Every place up to ``admitted_through`` has then left the waiting state, so a buyer's position is their
  ordinal minus that number: no count over the line per poll.
- A purchase during an onsale must consume an admission (state ``admitted`` -> ``done``) in its own
  transaction: :func:`admission_check` is what place_order runs inside it.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import connections, transaction
from django.utils import timezone

from boxoffice import admission
from boxoffice.models import Event, Onsale, QueueEntry
from boxoffice.queueing import MAX_POLL_AFTER_S, admission_budget, closed, waiting

PRIMARY = "default"
# Two-key advisory lock namespace of the admission pass (the second key is the event id).
PASS_LOCK_NS = 7414
# Polls trigger a pass at most this often (memcached's expiry is in whole seconds).
PASS_INTERVAL_S = 1
# A snapshot older than this triggers a pass even if the gate key says one ran (the cache lost it).
SNAPSHOT_STALE_S = 3.0
SNAPSHOT_TTL_S = 60

ENTRY = QueueEntry._meta.db_table
EVENT = Event._meta.db_table


def snapshot_key(event_id: int) -> str:
    return f"boxoffice:onsale:{event_id}:snapshot"


def _pass_gate_key(event_id: int) -> str:
    return f"boxoffice:onsale:{event_id}:pass"


def _shuffle(onsale: Onsale) -> None:
    """Give every arrival still without a place one, in a uniformly random order (caller holds the row lock)."""
    ids = list(
        QueueEntry.objects.using(PRIMARY)
        .filter(onsale=onsale, ordinal__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
    )
    secrets.SystemRandom().shuffle(ids)
    first = onsale.last_ordinal + 1
    if ids:
        with connections[PRIMARY].cursor() as cur:
            cur.execute(
                f"UPDATE {ENTRY} AS q SET ordinal = v.o FROM unnest(%s::bigint[], %s::int[]) AS v(id, o) "
                "WHERE q.id = v.id",
                [ids, list(range(first, first + len(ids)))],
            )
    onsale.last_ordinal = first + len(ids) - 1
    onsale.shuffled = True
    Onsale.objects.using(PRIMARY).filter(pk=onsale.pk).update(last_ordinal=onsale.last_ordinal, shuffled=True)


def join(event_id: int, user: Any) -> QueueEntry:
    """The buyer's place in line: a new one, or the one they hold (a timed-out admission goes to the back)."""
    with transaction.atomic(using=PRIMARY):
        onsale = Onsale.objects.using(PRIMARY).select_for_update().filter(pk=event_id, enabled=True).first()
        if onsale is None:
            raise admission.NoOnsale(f"event {event_id} has no onsale running: buy directly")
        # The arrival time is taken holding the row lock, so "before the opening" means "before the shuffle".
        now = timezone.now()
        if not onsale.shuffled and now >= onsale.opens_at:
            _shuffle(onsale)
        entry = QueueEntry.objects.using(PRIMARY).filter(onsale=onsale, user=user).first()
        if entry is not None and entry.state != QueueEntry.EXPIRED:
            return entry
        ordinal = None
        if onsale.shuffled:
            ordinal = onsale.last_ordinal = onsale.last_ordinal + 1
            Onsale.objects.filter(pk=onsale.pk).update(last_ordinal=ordinal)
        if entry is None:
            return QueueEntry.objects.create(onsale=onsale, user=user, joined_at=now, ordinal=ordinal)
        entry.ordinal, entry.state, entry.joined_at = ordinal, QueueEntry.WAITING, now
        entry.admission_id = entry.admitted_at = entry.expires_at = None
        entry.save()
        return entry


def admit(event_id: int, wait: bool = False) -> dict[str, Any] | None:
    """One admission pass; returns the onsale's new snapshot, or None if there is no such onsale or (unless
    ``wait``) another pass holds the lock."""
    with transaction.atomic(using=PRIMARY):
        with connections[PRIMARY].cursor() as cur:
            if wait:
                cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PASS_LOCK_NS, event_id])
            else:
                cur.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [PASS_LOCK_NS, event_id])
                if not cur.fetchone()[0]:
                    return None
        onsale = Onsale.objects.using(PRIMARY).select_for_update().filter(pk=event_id).first()
        if onsale is None:
            return None
        now = timezone.now()  # holding the row lock, as joins take theirs
        if onsale.enabled and not onsale.shuffled and now >= onsale.opens_at:
            _shuffle(onsale)
        with connections[PRIMARY].cursor() as cur:
            # Admissions not used in time free their checkout seat.
            cur.execute(
                f"UPDATE {ENTRY} SET state = %s WHERE onsale_id = %s AND state = %s AND expires_at <= %s",
                [QueueEntry.EXPIRED, event_id, QueueEntry.ADMITTED, now],
            )
            cur.execute(
                f"SELECT state, count(*) FROM {ENTRY} WHERE onsale_id = %s GROUP BY state", [event_id]
            )
            counts = dict(cur.fetchall())
            cur.execute(f"SELECT capacity - tickets_sold FROM {EVENT} WHERE id = %s", [event_id])
            left = cur.fetchone()[0]
            budget = 0
            if onsale.enabled and onsale.shuffled and left > 0:
                last = onsale.last_admission_at
                elapsed = (now - last).total_seconds() if last else None
                active = counts.get(QueueEntry.ADMITTED, 0)
                budget = admission_budget(onsale.checkout_capacity, active, onsale.admission_rate, elapsed)
            if budget:
                # The next waiting places in line; SKIP LOCKED: a row a join is changing waits for the next pass.
                cur.execute(
                    f"UPDATE {ENTRY} SET state = %s, admission_id = gen_random_uuid(), admitted_at = %s, "
                    f"expires_at = %s WHERE id IN (SELECT id FROM {ENTRY} WHERE onsale_id = %s AND state = %s "
                    "AND ordinal IS NOT NULL ORDER BY ordinal LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING ordinal",
                    [
                        QueueEntry.ADMITTED,
                        now,
                        now + timedelta(seconds=onsale.admission_ttl_s),
                        event_id,
                        QueueEntry.WAITING,
                        budget,
                    ],
                )
                admitted = [row[0] for row in cur.fetchall()]
                if admitted:
                    n = len(admitted)
                    counts[QueueEntry.ADMITTED] = counts.get(QueueEntry.ADMITTED, 0) + n
                    counts[QueueEntry.WAITING] = counts.get(QueueEntry.WAITING, 0) - n
                    onsale.admitted_through = max(onsale.admitted_through, *admitted)
                    onsale.last_admission_at = now
        Onsale.objects.using(PRIMARY).filter(pk=event_id).update(
            admitted_through=onsale.admitted_through, last_admission_at=onsale.last_admission_at
        )
        snap = _snapshot(onsale, counts, left)
        # Stored while the pass lock is held, so a slower earlier pass can never overwrite a later
        # snapshot (positions only ever go down).
        cache.set(snapshot_key(event_id), json.dumps(snap), SNAPSHOT_TTL_S)
    return snap


def _snapshot(onsale: Onsale, counts: dict[str, int], left: int) -> dict[str, Any]:
    return {
        "enabled": onsale.enabled,
        "opens_at": onsale.opens_at.timestamp(),
        "shuffled": onsale.shuffled,
        "admitted_through": onsale.admitted_through,
        "last_ordinal": onsale.last_ordinal,
        "rate": onsale.admission_rate,
        "ttl": onsale.admission_ttl_s,
        "tickets_left": left,
        "counts": counts,
        "at": time.time(),
    }


def snapshot(event_id: int) -> dict[str, Any] | None:
    """The onsale as polls see it: memcached's copy, refreshed by a pass about once a second (the first
    poll to find it a second old runs the pass, if it wins the gate key)."""
    raw = cache.get(snapshot_key(event_id))
    snap = json.loads(raw) if isinstance(raw, str) else None
    age = time.time() - snap["at"] if snap else math.inf
    if age > SNAPSHOT_STALE_S or (
        age >= PASS_INTERVAL_S and cache.add(_pass_gate_key(event_id), "1", PASS_INTERVAL_S)
    ):
        snap = admit(event_id) or snap
    # Nothing cached and another node's pass running: wait for it (a few ms) rather than answer blind.
    return snap or admit(event_id, wait=True)


def poll(event_id: int, user_id: int, token: Any) -> dict[str, Any]:
    """What a buyer holding ``token`` is told: waiting (position), admitted (admission token), done...

    A place still behind everyone admitted is answered from the token and the cached snapshot alone (no
    database); otherwise the buyer's own row is read, by primary key, from a replica when one has caught up.
    """
    entry_id, ordinal = admission.read_place(token, event_id, user_id)
    snap = snapshot(event_id)
    if snap is None:
        raise admission.NoOnsale(f"event {event_id} has no onsale")
    if ordinal is not None and ordinal > snap["admitted_through"]:
        # Never admitted, so never bought: the snapshot says all there is to say.
        return closed(snap) or waiting(ordinal, snap)
    entry = QueueEntry.objects.filter(pk=entry_id, user_id=user_id, onsale_id=event_id).first()
    if entry is None:
        raise admission.TokenRefused(event_id, "that place is no longer in this queue: join again")
    answer = _answer(event_id, user_id, entry, snap)
    if entry.ordinal is not None and entry.ordinal != ordinal:
        # The place got its ordinal (the opening shuffle): a token that carries it spares later polls the DB.
        answer["token"] = admission.sign_place(event_id, user_id, entry.pk, entry.ordinal)
    return answer


def _answer(event_id: int, user_id: int, entry: QueueEntry, snap: dict[str, Any]) -> dict[str, Any]:
    now = timezone.now()
    if entry.state == QueueEntry.DONE:
        return {"state": "done", "message": "you have bought your tickets: see /api/orders"}
    shut = closed(snap)
    if shut:
        return shut
    if entry.state == QueueEntry.ADMITTED and entry.expires_at > now:
        return {
            "state": "admitted",
            "admission": admission.sign_admission(event_id, user_id, entry.admission_id),
            "expires_in_s": int((entry.expires_at - now).total_seconds()),
            "purchase_url": f"/api/events/{event_id}/orders",
        }
    if entry.state in (QueueEntry.ADMITTED, QueueEntry.EXPIRED):
        return {"state": "expired", "message": "your admission timed out: join again (POST) for a new place"}
    if entry.ordinal is None:
        opens_in = max(0.0, snap["opens_at"] - time.time())
        # Come back just after the opening, spread over a second or two so the early crowd's first polls do
        # not all land in the same instant.
        after = min(MAX_POLL_AFTER_S, math.ceil(opens_in) + secrets.randbelow(3))
        return {"state": "waiting", "position": None, "opens_in_s": round(opens_in, 1), "poll_after_s": after}
    return waiting(entry.ordinal, snap)


def onsale_on(event_id: int) -> bool:
    """Whether buying this event needs an admission (pages only; purchases check on the primary)."""
    raw = cache.get(snapshot_key(event_id))
    if isinstance(raw, str):
        return bool(json.loads(raw)["enabled"])
    return Onsale.objects.filter(pk=event_id, enabled=True).exists()


def admission_check(event_id: int, user: Any, token: Any) -> Callable[[], None]:
    """What place_order runs first inside its transaction: during an onsale, consume one valid admission."""

    def check() -> None:
        ttl = (
            Onsale.objects.using(PRIMARY)
            .filter(pk=event_id, enabled=True)
            .values_list("admission_ttl_s", flat=True)
            .first()
        )
        if ttl is None:
            return
        if not token:
            raise admission.AdmissionRequired(
                event_id,
                "this event sells through its waiting room: join the queue (POST queue_url), poll it until "
                "admitted, then buy with the admission token in the Admission-Token header",
            )
        admission_id = admission.read_admission(token, event_id, user.pk, ttl)
        used = QueueEntry.objects.filter(
            admission_id=admission_id, user=user, state=QueueEntry.ADMITTED, expires_at__gt=timezone.now()
        ).update(state=QueueEntry.DONE)
        if used != 1:
            raise admission.AdmissionUsed(
                event_id, "that admission was already used or has timed out: join the queue again"
            )

    return check
