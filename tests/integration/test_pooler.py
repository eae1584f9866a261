"""The connection pooler: the primary's server connections stay within the pool however many clients come.

Web nodes and workers are what grows in production; here the growth is played by many more concurrent
clients of the pooler than the pool has server connections (as many as a dozen more web nodes would open),
while buyers purchase through the site. PostgreSQL itself is asked how many server connections it has.
"""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from deploy.commands.context import Cluster
from deploy.render.pgbouncer import pool_size
from tests.integration.client import BoxOffice
from tests.integration.helpers import create_event, lb

pytestmark = [pytest.mark.integration]

LOAD_SECONDS = 6.0


def connect(cluster: Cluster, dbname: str, password: str | None = None):
    pooler, db = cluster.topo.one("pgbouncer"), cluster.topo.database
    return psycopg2.connect(
        host=pooler.address, port=pooler.port, dbname=dbname, user=db.user,
        password=cluster.secrets.db_app_password if password is None else password, connect_timeout=3,
    )  # fmt: skip


def primary_server_connections(cluster: Cluster) -> int:
    """The app role's backends on the leader that came through dbproxy (the pooler's primary pool)."""
    leader = cluster.pg.leader()
    assert leader is not None, "no Patroni leader"
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
        f"AND usename = '{cluster.topo.database.user}' AND client_addr = '{cluster.topo.one('dbproxy').address}'"
    )
    return int(cluster.pg.psql(leader, sql))


def test_primary_server_connections_stay_within_the_pool_under_load(cluster: Cluster) -> None:
    limit = pool_size(cluster.topo, cluster.topo.one("pgbouncer"))
    clients = 3 * limit + 4
    event_id = create_event(100_000, "Pool pressure")
    deadline = time.monotonic() + LOAD_SECONDS
    done: list[int] = []
    errors: list[str] = []
    statuses: list[int] = []

    def pooled_client() -> None:
        # Each holds its server connection for a whole transaction (a slow write path).
        conn = connect(cluster, cluster.topo.database.name)
        n = 0
        try:
            while time.monotonic() < deadline:
                with conn, conn.cursor() as cur:
                    cur.execute("SELECT pg_sleep(0.2), pg_current_wal_lsn()")
                    n += 1
        except psycopg2.Error as exc:
            errors.append(str(exc).strip())
        finally:
            conn.close()
            done.append(n)

    def buyer() -> None:
        bo = BoxOffice(lb(cluster)).login("demo", "demo")
        while time.monotonic() < deadline:
            statuses.append(bo.buy(event_id, 1).status_code)

    threads = [threading.Thread(target=pooled_client) for _ in range(clients)]
    threads += [threading.Thread(target=buyer) for _ in range(2)]
    for t in threads:
        t.start()
    samples: list[int] = []
    while any(t.is_alive() for t in threads):
        samples.append(primary_server_connections(cluster))
        time.sleep(0.1)
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(done) == clients and min(done) >= 1, "every client got its turn"
    assert statuses and set(statuses) == {201}, statuses
    # The ceiling held, and the load really reached it (else this test could not fail).
    assert max(samples) <= limit, (max(samples), limit, samples)
    assert max(samples) >= limit - 1, (max(samples), limit, samples)


def test_router_probes_see_recovery_state_through_the_pooler(cluster: Cluster) -> None:
    """Each per-node pool reaches its own node: pg_is_in_recovery() tells the leader from the replicas."""
    leader = cluster.pg.leader()
    assert leader is not None
    for node in cluster.topo.by_role("db"):
        conn = connect(cluster, f"{cluster.topo.database.name}_{node.name}")
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                assert cur.fetchone()[0] is (node.name != leader.name), node.name
        finally:
            conn.close()


def test_the_pooler_refuses_a_wrong_password_and_keeps_its_files_private(cluster: Cluster) -> None:
    with pytest.raises(psycopg2.OperationalError, match="SASL authentication failed"):
        connect(cluster, cluster.topo.database.name, password="not-the-password")
    node = cluster.topo.one("pgbouncer")
    for suffix in ("ini", "users"):
        st = cluster.paths.conf_file(f"pgbouncer-{node.name}.{suffix}").stat()
        assert st.st_mode & 0o777 == 0o600, suffix
    users = cluster.paths.conf_file(f"pgbouncer-{node.name}.users").read_text()
    assert "SCRAM-SHA-256$" in users and cluster.secrets.db_app_password not in users
