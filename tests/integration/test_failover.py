"""`make failover`: a planned switchover under load; writes resume on the new primary, nothing lost."""

from __future__ import annotations

import threading
import time

import pytest

from deploy.commands.context import Cluster
from tests.conftest import deploy_cli
from tests.integration.client import BoxOffice
from tests.integration.helpers import create_event, lb

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def test_switchover_and_back_keeps_every_acknowledged_order(cluster: Cluster) -> None:
    original = cluster.pg.leader()
    assert original is not None
    event_id = create_event(100_000, "Switchover")
    bo = BoxOffice(lb(cluster)).login("demo2", "demo2")
    acknowledged: list[int] = []
    statuses: list[int] = []
    stop = threading.Event()

    def buy_loop() -> None:
        while not stop.is_set():
            r = bo.buy(event_id, 1)
            statuses.append(r.status_code)
            if r.status_code == 201:
                acknowledged.append(r.json()["id"])
            time.sleep(0.05)

    buyer = threading.Thread(target=buy_loop)
    buyer.start()
    try:
        out = deploy_cli("failover")
        new = cluster.pg.leader()
        assert new is not None and new.name != original.name
        assert f"the primary is now {new.name}" in out.stdout
    finally:
        time.sleep(1.0)
        stop.set()
        buyer.join()
        deploy_cli("failover", "--to", original.name)
    assert cluster.pg.leader().name == original.name
    # Purchases during the switch either succeeded or got the read-only 503; never a 500.
    assert set(statuses) <= {201, 503}, statuses
    assert statuses[-1] == 201
    stored = {o["id"] for o in bo.every("/api/orders", "orders") if o["event_id"] == event_id}
    assert set(acknowledged) <= stored, "an acknowledged order was lost in the switchover"
    assert bo.get(f"/api/events/{event_id}").json()["tickets_left"] == 100_000 - len(stored)
