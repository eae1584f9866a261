"""Synchronous replication under the worst timing: the primary dies while its replicas have stopped
receiving WAL. Every purchase that got its 201 must exist afterwards, exactly once.

With asynchronous replication this fails: commits made while the WAL receivers are stalled are
acknowledged, then lost with the primary. With synchronous_mode those commits wait for a replica, so no
buyer hears 201 for an order only the dead primary had.
"""

from __future__ import annotations

import time

import pytest

from deploy.commands.context import Cluster
from tests.integration.chaos import (
    Purchases,
    kill_leader,
    orders_stored,
    rejoin,
    release,
    stall,
    walreceivers,
)
from tests.integration.helpers import create_event, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def test_kill_primary_with_stalled_wal_receivers_loses_no_acknowledged_order(cluster: Cluster) -> None:
    assert cluster.topo.database.synchronous_mode, "the test topology runs synchronous replication"
    wait_until(lambda: bool(cluster.pg.settled_sync_standbys()), "a synchronous standby", 60, 1.0)
    leader = cluster.pg.leader()
    assert leader is not None
    replicas = [n for n in cluster.topo.by_role("db") if n.name != leader.name]
    event_id = create_event(1_000_000, "Durability")
    buys = Purchases().start(cluster, event_id)
    stalled: list[int] = []
    try:
        wait_until(lambda: len(buys.acknowledged) >= 5, "purchases flowing", 30)
        stalled = [pid for n in replicas for pid in walreceivers(cluster, n)]
        assert len(stalled) == len(replicas), "one WAL receiver per replica"
        stall(stalled)
        stalled_at = time.monotonic()
        time.sleep(2.0)  # purchases keep committing on the primary meanwhile (or wait for a replica)
        killed, at = kill_leader(cluster)
        time.sleep(1.0)
        release(stalled)
        stalled = []
        wait_until(lambda: buys.first_success_after(at) is not None, "writes on a new primary", 90, 0.5)
        time.sleep(1.0)
    finally:
        release(stalled)
        buys.finish()
    gap = buys.first_success_after(at) - buys.last_success_before(at)
    print(f"write gap after kill -9: {gap:.1f} s; {len(buys.acknowledged)} acknowledged orders")
    counts = orders_stored(cluster, buys.acknowledged)
    missing = [oid for oid, n in counts.items() if n != 1]
    assert not missing, f"acknowledged orders lost or duplicated: {missing[:10]} of {len(counts)}"
    # Synchronous commits waited for a replica: nothing was acknowledged while none received WAL.
    acked_while_stalled = [t for t, s in buys.attempts if s == 201 and stalled_at + 0.5 < t < at]
    assert not acked_while_stalled, (
        f"{len(acked_while_stalled)} purchases acknowledged with no replica receiving"
    )
    # The failed attempts were refusals (read-only 503) or dropped connections, never a 500.
    assert {s for _t, s in buys.attempts} <= {201, 503, 0}, sorted({s for _t, s in buys.attempts})
    rejoin(cluster, killed)
