"""The router's decisions, checked by which real PostgreSQL server answered (inet_server_addr)."""

from __future__ import annotations

import json
import time
import urllib.request

import psycopg2
import pytest

from deploy.commands.context import Cluster
from deploy.model.topology import Node
from health.checks import DEADLINE_SECONDS
from tests.conftest import deploy_cli
from tests.integration.chaos import postgres_processes, rejoin, release, stall
from tests.integration.client import BoxOffice
from tests.integration.helpers import lb, wait_until
from tests.integration.test_router import (
    all_replicas_streaming,
    reads,
    replay_paused,
    replica_names,
    replicas,
)

pytestmark = pytest.mark.integration

SCRIPT = "tests/integration/scripts/router_probe.py"


@pytest.fixture(scope="module")
def probe(cluster: Cluster) -> dict:
    all_replicas_streaming(cluster)
    code = (cluster.paths.repo / SCRIPT).read_text()
    out = deploy_cli("manage", "--node", "web1", "shell", "--no-imports", "-c", code).stdout
    return json.loads(out.strip().splitlines()[-1])


def _addresses(cluster: Cluster) -> tuple[str, set[str]]:
    leader = cluster.pg.leader()
    assert leader is not None
    return leader.address, {n.address for n in replicas(cluster)}


def test_a_plain_read_is_answered_by_a_replica(cluster: Cluster, probe: dict) -> None:
    _primary, replica_addrs = _addresses(cluster)
    aliases, answer = probe["plain_read"]
    assert aliases and set(aliases) <= replica_names(cluster)
    assert answer["standby"] is True and answer["addr"] in replica_addrs


def test_one_replica_serves_every_read_of_a_context(probe: dict) -> None:
    assert len(set(probe["same_replica"])) == 1


@pytest.mark.parametrize("step", ["in_atomic", "select_for_update", "get_or_create"])
def test_transactions_and_locking_reads_go_to_the_primary(probe: dict, step: str) -> None:
    aliases, _result = probe[step]
    assert aliases == ["default"]


def test_after_a_write_reads_go_to_the_primary(cluster: Cluster, probe: dict) -> None:
    primary, _replicas = _addresses(cluster)
    assert probe["before_write"][1]["standby"] is True
    aliases, answer = probe["after_write"]
    assert probe["wrote"] is True
    assert aliases == ["default"]
    assert answer == {"addr": primary, "standby": False}


def test_migrations_are_only_allowed_on_the_primary(cluster: Cluster) -> None:
    code = (
        "import json; from django.db import router; "
        "print(json.dumps({a: router.allow_migrate(a, 'boxoffice', model_name='event') "
        "for a in ['default', 'db1', 'db2', 'db3']}))"
    )
    out = deploy_cli("manage", "--node", "web1", "shell", "--no-imports", "-c", code).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {
        "default": True,
        "db1": False,
        "db2": False,
        "db3": False,
    }


def _readyz(node: Node) -> dict:
    with urllib.request.urlopen(f"http://{node.address}:{node.port}/readyz", timeout=10) as resp:
        return json.load(resp)


def test_readyz_reads_a_killed_and_a_hung_replica_down_in_time(cluster: Cluster) -> None:
    """Each report probes every replica anew (even one the router holds down): a dead one and a hung one
    (every PostgreSQL process SIGSTOPped) read down every time, and /readyz answers within its deadline
    (DEADLINE_SECONDS, plus the HTTP round trip on a loaded machine), inside the LB's 3 s `timeout check`."""
    all_replicas_streaming(cluster)
    dead, hung = replicas(cluster)[:2]
    web1 = cluster.topo.by_role("web")[0]
    frozen: list[int] = []
    try:
        deploy_cli("kill", dead.name)
        frozen = postgres_processes(cluster, hung)
        assert len(frozen) > 1, "a postmaster and its processes"
        stall(frozen)
        for _ in range(3):  # the second one comes while the first one's probe of the hung node still runs
            started = time.monotonic()
            report = _readyz(web1)
            took = time.monotonic() - started
            entries = {x["alias"]: x for x in report["checks"]["replicas"]}
            assert entries[dead.name]["state"] == "down" and entries[hung.name]["state"] == "down", entries
            assert report["ready"] and report["checks"]["primary"]["ok"], report["checks"]
            assert took < DEADLINE_SECONDS + 1.0 < 3.0, took
    finally:
        release(frozen)
        rejoin(cluster, dead)


def test_a_replica_past_the_lag_threshold_serves_no_reads(cluster: Cluster) -> None:
    """Replay paused while the primary writes more than max_replica_lag_bytes: readers move to the primary."""
    all_replicas_streaming(cluster)
    bo = BoxOffice(lb(cluster)).login("demo2", "demo2")
    wait_until(lambda: reads(bo.get("/api/orders")) <= replica_names(cluster), "reads on a replica")
    paused = replicas(cluster)
    leader = cluster.pg.leader()
    assert leader is not None
    try:
        with replay_paused(cluster, paused):
            _lag_past_the_threshold_reads_lagging(cluster, bo, paused)
    finally:
        cluster.pg.psql(leader, "DROP TABLE IF EXISTS lag_probe", database=cluster.topo.database.name)
    wait_until(lambda: reads(bo.get("/api/orders")) <= replica_names(cluster), "reads back on a replica", 30)


def _lag_past_the_threshold_reads_lagging(cluster: Cluster, bo: BoxOffice, paused: list[Node]) -> None:
    """~4 MiB written on the primary while ``paused`` replay nothing: readers and /readyz see the lag."""
    db = cluster.topo.database
    proxy = cluster.topo.one("dbproxy")
    conn = psycopg2.connect(
        host=proxy.address, port=proxy.port, dbname=db.name, user=db.user,
        password=cluster.secrets.db_app_password, connect_timeout=3,
    )  # fmt: skip
    conn.autocommit = True
    with conn.cursor() as cur:
        # ~4 MiB of WAL, well past the 1 MiB threshold.
        cur.execute("CREATE TABLE IF NOT EXISTS lag_probe (pad text)")
        cur.execute("INSERT INTO lag_probe SELECT repeat('x', 1000) FROM generate_series(1, 4000)")
        cur.execute("SELECT pg_current_wal_lsn()::text")
        written = cur.fetchone()[0]
    conn.close()
    # The router measures lag as received-but-not-replayed: wait until every paused replica has
    # received the new WAL (on a loaded machine that can take a while), never for a fixed time.
    for node in paused:
        wait_until(
            lambda n=node: (
                cluster.pg.psql(n, f"SELECT pg_last_wal_receive_lsn() >= '{written}'::pg_lsn") == "t"
            ),
            f"{node.name} to receive the WAL up to {written}",
        )
    time.sleep(0.2)  # past the router's per-process LSN cache (LSN_CACHE_SECONDS, 0.05 s)
    r = bo.get("/api/orders")
    assert r.status_code == 200
    assert reads(r) == {"default"}, reads(r)
    for node in cluster.topo.by_role("web"):
        report = _readyz(node)
        entries = {x["alias"]: x for x in report["checks"]["replicas"]}
        # Each paused replica answers: "lagging", never "down" (not even one that a request of this web
        # node found unreachable a moment ago, e.g. the primary a test before this one stopped).
        assert all(entries[n.name]["state"] == "lagging" for n in paused), (node.name, entries)
