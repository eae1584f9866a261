"""The foundation, against real processes: HAProxy -> uWSGI nodes, Patroni replication, memcached, S3."""

from __future__ import annotations

import time
import uuid

import psycopg2
import psycopg2.errors
import pytest
import requests

from deploy.clients.haproxy import RuntimeAPI
from deploy.commands.context import Cluster
from tests.conftest import deploy_cli
from tests.integration.helpers import wait_until

pytestmark = pytest.mark.integration


def lb_url(cluster: Cluster, path: str = "/") -> str:
    lb = cluster.topo.one("lb")
    return f"http://{lb.address}:{lb.port}{path}"


def test_requests_through_haproxy_reach_both_web_nodes(cluster: Cluster) -> None:
    served_by = []
    with requests.Session() as s:
        for _ in range(40):
            r = s.get(lb_url(cluster, "/healthz"), timeout=5)
            assert r.status_code == 200
            assert r.headers.get("X-Request-ID")
            served_by.append(r.headers["X-Served-By"])
    assert set(served_by) == {"web1", "web2"}


def test_readyz_reports_every_dependency(cluster: Cluster) -> None:
    web = cluster.topo.by_role("web")[0]
    r = requests.get(f"http://{web.address}:{web.port}/readyz", timeout=5)
    assert r.status_code == 200
    body = r.json()
    assert body["ready"] is True
    checks = body["checks"]
    assert checks["primary"]["ok"] is True
    assert len(checks["cache"]) == len(cluster.topo.by_role("cache"))
    assert all(c["ok"] for c in checks["cache"])
    assert checks["s3"]["ok"] is True


def _app_conn(cluster: Cluster, host: str, port: int):
    db = cluster.topo.database
    return psycopg2.connect(
        host=host, port=port, dbname=db.name, user=db.user,
        password=cluster.secrets.db_app_password, connect_timeout=3,
    )  # fmt: skip


def test_row_written_through_dbproxy_reaches_every_replica(cluster: Cluster) -> None:
    proxy = cluster.topo.one("dbproxy")
    marker = uuid.uuid4().hex
    with _app_conn(cluster, proxy.address, proxy.port) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS replication_probe (marker text PRIMARY KEY)")
        cur.execute("INSERT INTO replication_probe VALUES (%s)", (marker,))
    leader = cluster.pg.leader()
    assert leader is not None
    replicas = [n for n in cluster.topo.by_role("db") if n.name != leader.name]
    assert len(replicas) == 2
    for node in replicas:
        deadline = time.monotonic() + 10
        found = False
        while not found and time.monotonic() < deadline:
            conn = _app_conn(cluster, node.address, node.port)
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_is_in_recovery(), count(*) FROM replication_probe WHERE marker = %s",
                                (marker,))  # fmt: skip
                    in_recovery, count = cur.fetchone()
                    assert in_recovery is True
                    found = count == 1
            except psycopg2.errors.UndefinedTable:
                pass  # the replica has not replayed the CREATE TABLE yet (a fresh cluster's first run)
            finally:
                conn.close()
            time.sleep(0.1)
        assert found, f"row {marker} never appeared on {node.name}"
    rows = cluster.pg.psql(
        leader, "SELECT application_name || ':' || state FROM pg_stat_replication ORDER BY 1"
    )
    assert rows.split() == [f"{n.name}:streaming" for n in sorted(replicas, key=lambda n: n.name)]


def test_patroni_reports_one_leader_and_two_streaming_replicas(cluster: Cluster) -> None:
    node = cluster.topo.by_role("db")[0]

    def cluster_members() -> list[dict]:
        return requests.get(f"http://{node.address}:{node.opt('rest_port')}/cluster", timeout=5).json()[
            "members"
        ]

    # Synchronous replication: one replica is the synchronous standby (topology synchronous_node_count 1);
    # after a switchover Patroni names one again on its next loop.
    expected = ["leader", "replica", "sync_standby"]
    wait_until(
        lambda: sorted(m["role"] for m in cluster_members()) == expected, "one synchronous standby", 30
    )
    members = cluster_members()
    assert all(m["state"] == "streaming" for m in members if m["role"] != "leader")


def _manage(node: str, code: str) -> str:
    return deploy_cli("manage", "--node", node, "shell", "--no-imports", "-c", code).stdout.strip()


def test_cache_is_shared_between_web_nodes(cluster: Cluster) -> None:
    key, value = f"shared-{uuid.uuid4().hex}", uuid.uuid4().hex
    _manage("web1", f"from django.core.cache import cache; cache.set({key!r}, {value!r}, 60)")
    got = _manage("web2", f"from django.core.cache import cache; print(cache.get({key!r}))")
    assert got == value


def test_s3_object_put_by_one_node_is_read_by_the_other(cluster: Cluster) -> None:
    name, body = f"probe/{uuid.uuid4().hex}.txt", uuid.uuid4().hex
    saved = _manage(
        "web1",
        "from django.core.files.storage import default_storage as s; from django.core.files.base import "
        f"ContentFile; print(s.save({name!r}, ContentFile({body!r}.encode())))",
    )
    got = _manage(
        "web2",
        f"from django.core.files.storage import default_storage as s; print(s.open({saved!r}).read().decode())",
    )
    assert got == body


def test_stopped_web_node_leaves_rotation_within_5s(cluster: Cluster) -> None:
    api = RuntimeAPI(cluster.paths.haproxy_admin_sock)
    deploy_cli("stop", "web1")
    try:
        stopped_at = time.monotonic()
        while api.server("web", "web1").status.startswith("UP"):
            assert time.monotonic() - stopped_at < 5, "HAProxy still routes to web1 5 s after it stopped"
            time.sleep(0.1)
        failures, served = 0, set()
        with requests.Session() as s:
            for _ in range(30):
                r = s.get(lb_url(cluster, "/healthz"), timeout=5)
                failures += r.status_code != 200
                served.add(r.headers.get("X-Served-By"))
        assert failures == 0
        assert served == {"web2"}
    finally:
        deploy_cli("start", "web1")
        deadline = time.monotonic() + 20
        while not api.server("web", "web1").status.startswith("UP"):
            assert time.monotonic() < deadline, "web1 did not come back UP"
            time.sleep(0.2)


def test_status_shows_every_node(cluster: Cluster) -> None:
    out = deploy_cli("status").stdout
    for node in cluster.topo:
        assert node.name in out
    assert "primary" in out and "replica" in out
    lines = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    assert all("running" in lines[n.name] for n in cluster.topo), out


def test_up_twice_is_harmless_and_fast(cluster: Cluster) -> None:
    began = time.monotonic()
    out = deploy_cli("up", "--no-seed")
    assert "is up" in out.stdout
    assert time.monotonic() - began < 60


def test_logs_merge_every_node_in_time_order(cluster: Cluster) -> None:
    out = deploy_cli("logs", "-n", "40").stdout.splitlines()
    assert len(out) == 40, out
    times = [" ".join(line.split()[:2]) for line in out]
    assert times == sorted(times)  # one view, oldest first
    assert len({line.split()[2] for line in out}) >= 2  # from more than one node
    errors = deploy_cli("logs", "-n", "400", "--level", "error", "--width", "80").stdout.splitlines()
    assert all(line.split()[3] == "ERRO" and len(line) <= 80 + 70 for line in errors), errors[:5]
