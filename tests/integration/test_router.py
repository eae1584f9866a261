"""The data tier under the site: read-your-writes across nodes, replicas chosen by the router, faults.

These pin BRIEF section 6 on the real cluster: paused replay, a replica killed with -9, a memcached
node killed, the primary stopped with failover paused.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator

import pytest

from deploy.commands.context import Cluster
from deploy.model.defaults import PG_BIN_DIR as PG_BIN
from deploy.model.topology import Node
from tests.conftest import deploy_cli
from tests.integration.client import BoxOffice
from tests.integration.helpers import create_event, lb, wait_until, web

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def replicas(cluster: Cluster) -> list[Node]:
    leader = cluster.pg.leader()
    assert leader is not None, "no Patroni leader"
    return [n for n in cluster.topo.by_role("db") if n.name != leader.name]


def reads(response) -> set[str]:
    return {a for a in response.headers.get("X-DB-Reads", "").split(",") if a}


def replica_names(cluster: Cluster) -> set[str]:
    return {n.name for n in replicas(cluster)}


def all_replicas_streaming(cluster: Cluster) -> None:
    wait_until(
        lambda: cluster.pg.streaming_count() == len(cluster.topo.by_role("db")) - 1,
        "every replica streaming",
        90,
    )


def _patronictl(cluster: Cluster, *args: str) -> None:
    subprocess.run(
        [str(cluster.paths.venv / "bin" / "patronictl"), "-c", str(cluster.paths.conf_file("patronictl.yml")), *args],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@contextlib.contextmanager
def replay_paused(cluster: Cluster, nodes: list[Node]) -> Iterator[None]:
    """WAL replay paused on ``nodes`` (they keep receiving WAL) for the block, in Patroni's maintenance mode:
    otherwise the next HA loop of a replica (every loop_wait s) resumes a paused replay by itself."""
    _patronictl(cluster, "pause", "--wait")
    try:
        for node in nodes:
            cluster.pg.psql(node, "SELECT pg_wal_replay_pause()")
        yield
    finally:
        for node in nodes:
            cluster.pg.psql(node, "SELECT pg_wal_replay_resume()")
        _patronictl(cluster, "resume", "--wait")


def test_reads_come_from_a_replica_and_stay_on_one(cluster: Cluster) -> None:
    bo = BoxOffice(lb(cluster)).login("demo2", "demo2")
    wait_until(lambda: reads(bo.get("/api/orders")) <= replica_names(cluster) and reads(bo.get("/api/orders")),
               "reads from a replica")  # fmt: skip
    for _ in range(10):
        r = bo.get("/api/orders")
        assert r.status_code == 200
        served = reads(r)
        assert len(served) == 1 and served <= replica_names(cluster), served


def test_read_your_writes_across_web_nodes_with_replay_paused(cluster: Cluster) -> None:
    event_id = create_event(50, "Paused replay")
    buyer = BoxOffice(web(cluster, 0)).login("demo", "demo")
    other = BoxOffice(web(cluster, 1)).login("demo2", "demo2")
    # Both logins wrote (last_login); wait until the replicas have replayed that.
    wait_until(lambda: reads(other.get("/api/orders")) <= replica_names(cluster), "replicas caught up")
    wait_until(lambda: reads(buyer.on(web(cluster, 1)).get("/api/orders")) <= replica_names(cluster),
               "replicas caught up with the buyer")  # fmt: skip
    with replay_paused(cluster, replicas(cluster)):
        r = buyer.buy(event_id, 1)
        assert r.status_code == 201, r.text
        order_id = r.json()["id"]
        on_web2 = buyer.on(web(cluster, 1))
        mine = on_web2.get("/api/orders")
        assert mine.headers["X-Served-By"] == "web2"
        assert order_id in [o["id"] for o in mine.json()["orders"]]
        assert reads(mine) == {"default"}, "a replica behind the buyer's write must not serve the buyer"
        theirs = other.get("/api/orders")
        assert theirs.status_code == 200
        assert reads(theirs) <= replica_names(cluster) and reads(theirs), reads(theirs)
    # Once replayed, the buyer reads replicas again.
    wait_until(lambda: reads(buyer.on(web(cluster, 1)).get("/api/orders")) <= replica_names(cluster),
               "the buyer back on a replica")  # fmt: skip


def _read_loop(bo: BoxOffice, count: int, fault_at: int, fault) -> list[int]:
    statuses = []
    for i in range(count):
        if i == fault_at:
            fault()
        statuses.append(bo.get("/api/orders").status_code)
        time.sleep(0.02)
    return statuses


def test_killing_a_replica_during_reads_gives_no_5xx(cluster: Cluster) -> None:
    all_replicas_streaming(cluster)
    victim = replicas(cluster)[0]
    bo = BoxOffice(lb(cluster)).login("demo2", "demo2")
    try:
        statuses = _read_loop(bo, 120, 20, lambda: deploy_cli("kill", victim.name))
        assert all(s < 500 for s in statuses), statuses
        assert statuses.count(200) == len(statuses)
        later = {a for _ in range(10) for a in reads(bo.get("/api/orders"))}
        assert victim.name not in later
    finally:
        deploy_cli("start", victim.name)
        all_replicas_streaming(cluster)


def test_killing_a_memcached_node_keeps_sessions_and_pages(cluster: Cluster) -> None:
    bo = BoxOffice(lb(cluster)).login("demo", "demo")
    event_id = create_event(10, "Cache node lost")  # its own: a seeded one caps each buyer's tickets
    victim = cluster.topo.by_role("cache")[0]
    try:
        statuses = []
        for i in range(80):
            if i == 10:
                deploy_cli("kill", victim.name)
            path = "/api/orders" if i % 2 else "/api/events"
            statuses.append(bo.get(path).status_code)
        assert statuses == [200] * 80, statuses
        # Still logged in, and can still buy.
        assert bo.buy(event_id, 1).status_code == 201
    finally:
        deploy_cli("start", victim.name)


def test_primary_down_makes_the_site_read_only_then_writes_resume(cluster: Cluster) -> None:
    all_replicas_streaming(cluster)
    event_id = create_event(20, "Primary outage")
    bo = BoxOffice(lb(cluster)).login("demo", "demo")
    leader = cluster.pg.leader()
    assert leader is not None
    pgdata = cluster.paths.data(leader.name) / "pgdata"
    _patronictl(cluster, "pause", "--wait")
    try:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        for path in ("/api/events", f"/api/events/{event_id}", "/api/orders"):
            r = bo.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
        r = bo.buy(event_id, 1)
        # The request id and node find the request in var/<cluster>-last-logs/ if this ever fails.
        assert r.status_code == 503, (r.headers.get("X-Request-ID"), r.headers.get("X-Served-By"), r.text)
        assert "read-only" in r.text.lower() or "read_only" in r.text.lower()
        assert bo.get("/").status_code == 200
    finally:
        _patronictl(cluster, "resume", "--wait")
    deadline = time.monotonic() + 90
    while True:
        r = bo.buy(event_id, 1)
        if r.status_code == 201:
            break
        assert r.status_code == 503, r.text
        assert time.monotonic() < deadline, "writes did not resume within 90 s of resuming Patroni"
        time.sleep(1)
    orders = [o for o in bo.every("/api/orders", "orders") if o["event_id"] == event_id]
    assert len(orders) == 1, "the refused purchase must have left nothing behind"
    all_replicas_streaming(cluster)
