"""Measure the write gap after kill -9 of the primary under purchases, and the acknowledged orders lost.

    TIERS_TEST_TOPOLOGY=/work/notes/test-h6.toml .venv/bin/python -m tests.integration.scripts.failover_gap \
        [--runs 3] [--stall]

Against a running test cluster (`python -m deploy -t <topology> up`). Each run: two buyers purchase
through the load balancer, the leader's Patroni and PostgreSQL are SIGKILLed (with ``--stall`` the
replicas' WAL receivers are SIGSTOPped 2 s before and let go 1 s after), the gap is from the last 201
before the kill to the first 201 after it; then every acknowledged order id is counted on the new
leader, and the killed node is started again and waited for (pg_rewind) before the next run.
"""

from __future__ import annotations

import argparse
import statistics
import time

from deploy.commands.context import Cluster
from deploy.model.paths import StatePaths
from deploy.roles import load
from tests.conftest import TEST_TOPOLOGY
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


def one_run(cluster: Cluster, with_stall: bool) -> tuple[float, int, int]:
    """(write gap s, acknowledged orders, acknowledged orders lost)."""
    wait_until(lambda: bool(cluster.pg.settled_sync_standbys()) or not cluster.topo.database.synchronous_mode,
               "a synchronous standby", 60, 1.0)  # fmt: skip
    leader = cluster.pg.leader()
    assert leader is not None
    event_id = create_event(1_000_000, "Failover gap")
    buys = Purchases().start(cluster, event_id)
    stalled: list[int] = []
    try:
        wait_until(lambda: len(buys.acknowledged) >= 10, "purchases flowing", 30)
        if with_stall:
            stalled = [
                p
                for n in cluster.topo.by_role("db")
                if n.name != leader.name
                for p in walreceivers(cluster, n)
            ]
            stall(stalled)
            time.sleep(2.0)
        killed, at = kill_leader(cluster)
        if stalled:
            time.sleep(1.0)
            release(stalled)
            stalled = []
        wait_until(lambda: buys.first_success_after(at) is not None, "writes on a new primary", 120, 0.2)
    finally:
        release(stalled)
        buys.finish()
    gap = buys.first_success_after(at) - buys.last_success_before(at)
    lost = sum(1 for n in orders_stored(cluster, buys.acknowledged).values() if n != 1)
    rejoin(cluster, killed)
    return gap, len(buys.acknowledged), lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stall", action="store_true", help="SIGSTOP the replicas' WAL receivers too")
    args = parser.parse_args()
    topo = load(TEST_TOPOLOGY)
    cluster = Cluster(topo, StatePaths.for_cluster(topo.cluster.name))
    gaps = []
    for i in range(args.runs):
        gap, acked, lost = one_run(cluster, args.stall)
        gaps.append(gap)
        print(f"run {i + 1}: write gap {gap:.1f} s, {acked} acknowledged orders, {lost} lost", flush=True)
    print(f"median write gap {statistics.median(gaps):.1f} s over {len(gaps)} runs "
          f"(synchronous_mode={topo.database.synchronous_mode}, stall={args.stall})")  # fmt: skip


if __name__ == "__main__":
    main()
