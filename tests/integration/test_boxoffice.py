"""The box-office API on the real cluster: purchases, idempotency, never overselling, bad input."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest
import requests

from deploy.commands.context import Cluster
from tests.integration.client import BoxOffice
from tests.integration.helpers import create_event, lb, web

pytestmark = pytest.mark.integration


def test_browse_and_buy_through_the_load_balancer(cluster: Cluster) -> None:
    bo = BoxOffice(lb(cluster)).login("demo", "demo")
    events = bo.get("/api/events").json()["events"]
    assert events, "seed_demo should have created events"
    # An event of its own: a seeded one caps each buyer's tickets, and reruns on a kept cluster add up.
    event_id = create_event(100, "Browse and buy")
    before = bo.get(f"/api/events/{event_id}").json()["tickets_left"]
    r = bo.buy(event_id, 2)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["quantity"] == 2
    assert bo.get(f"/api/events/{event_id}").json()["tickets_left"] == before - 2
    assert order["id"] in [o["id"] for o in bo.get("/api/orders").json()["orders"]]


def test_same_idempotency_key_twice_makes_one_order(cluster: Cluster) -> None:
    event_id = create_event(100)
    one = BoxOffice(web(cluster, 0)).login("demo", "demo")
    two = one.on(web(cluster, 1))
    key = uuid.uuid4().hex
    results: list = [None, None]

    def buy(i: int, client: BoxOffice) -> None:
        results[i] = client.buy(event_id, 1, key=key)

    threads = [threading.Thread(target=buy, args=(i, c)) for i, c in enumerate((one, two))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in results} <= {200, 201}, [r.text for r in results]
    assert results[0].json()["id"] == results[1].json()["id"]
    assert one.buy(event_id, 1, key=key).json()["id"] == results[0].json()["id"]
    assert one.get(f"/api/events/{event_id}").json()["tickets_left"] == 99


def test_fifty_concurrent_buyers_never_oversell(cluster: Cluster) -> None:
    event_id = create_event(10)
    buyers = [
        BoxOffice(web(cluster, 0)).login("demo", "demo"),
        BoxOffice(web(cluster, 1)).login("demo2", "demo2"),
    ]
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def buy(i: int) -> None:
        client = buyers[i % 2]
        start.wait()
        r = client.buy(event_id, 1)
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(statuses)
    assert counts == {201: 10, 409: 40}, counts
    assert buyers[0].get(f"/api/events/{event_id}").json()["tickets_left"] == 0


@pytest.mark.parametrize(
    ("body_quantity", "field"),
    [(-1, "quantity"), (0, "quantity"), ("two", "quantity"), (1.5, "quantity"), (10_000, "quantity")],
)
def test_bad_quantity_is_a_400_naming_the_field(cluster: Cluster, body_quantity, field: str) -> None:
    bo = BoxOffice(lb(cluster)).login("demo", "demo")
    event_id = bo.get("/api/events").json()["events"][0]["id"]
    r = bo.buy(event_id, body_quantity)
    assert r.status_code in (400, 409), r.text
    if body_quantity != 10_000:
        assert r.status_code == 400
        assert r.json()["field"] == field


def test_bad_requests_get_clear_errors(cluster: Cluster) -> None:
    bo = BoxOffice(lb(cluster)).login("demo", "demo")
    event_id = bo.get("/api/events").json()["events"][0]["id"]
    # unknown event
    r = bo.buy(999_999, 1)
    assert r.status_code == 404 and r.json()["error"]
    assert bo.get("/api/events/999999").status_code == 404
    # malformed JSON
    r = bo.post(
        f"/api/events/{event_id}/orders", data="{not json",
        headers={"Idempotency-Key": uuid.uuid4().hex, "X-CSRFToken": bo.csrf, "Content-Type": "application/json"},
    )  # fmt: skip
    assert r.status_code == 400 and "JSON" in r.json()["message"]
    # missing CSRF token
    r = bo.buy(event_id, 1, csrf=False)
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
    # missing Idempotency-Key
    r = bo.post(f"/api/events/{event_id}/orders", json={"quantity": 1}, headers={"X-CSRFToken": bo.csrf})
    assert r.status_code == 400 and r.json()["field"].lower() == "idempotency-key"
    # wrong password, not logged in
    anon = BoxOffice(lb(cluster))
    r = anon.post("/api/login", json={"username": "demo", "password": "nope"})
    assert r.status_code == 401
    assert anon.get("/api/orders").status_code == 401


def test_head_is_answered_wherever_get_is(cluster: Cluster) -> None:
    """Uptime checkers ask with HEAD: the pages and the API answer it like GET, with no body."""
    for path in ("/", "/api/events", "/healthz"):
        r = requests.head(f"{lb(cluster)}{path}", timeout=10)
        assert r.status_code == 200, (path, r.status_code)
        assert r.content == b""
    r = requests.request("OPTIONS", f"{lb(cluster)}/api/events", timeout=10)
    assert r.status_code == 405 and set(r.headers["Allow"].split(", ")) == {"GET", "HEAD"}
