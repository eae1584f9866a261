"""The onsale waiting room on the real cluster (docs/ONSALE.md): a surge of 1,000 buyers for 200 tickets,
fair order, tokens that cannot be forged, reused or kept past their time, a node killed mid-sale, the busy
page, logins behind page views, and the organizer's live view.

Buyers are made with sessions by `manage.py seed_buyers` (1,000 PBKDF2 logins would take minutes here);
everything else goes through the load balancer as a real buyer's requests would.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from datetime import datetime

import pytest
import requests

from deploy.clients.haproxy import RuntimeAPI
from deploy.commands import onsale_load
from deploy.commands.context import Cluster
from tests.conftest import deploy_cli
from tests.integration.client import BoxOffice
from tests.integration.helpers import lb, manage_py, wait_until

pytestmark = pytest.mark.integration


def lb_address(cluster: Cluster) -> tuple[str, int]:
    node = cluster.topo.one("lb")
    return node.address, node.port


def make_onsale(capacity: int, checkout: int, rate: int, opens_in: float = 0, ttl: int = 300) -> int:
    out = deploy_cli(
        "manage", "create_event", f"Onsale {uuid.uuid4().hex[:6]}", "--capacity", str(capacity), "--onsale",
        "--checkout-capacity", str(checkout), "--admission-rate", str(rate), "--opens-in", str(opens_in),
        "--admission-ttl", str(ttl),
    ).stdout  # fmt: skip
    return int(json.loads(out.strip().splitlines()[-1])["id"])


def seed_buyers(count: int) -> list[onsale_load.Buyer]:
    prefix = f"b{uuid.uuid4().hex[:8]}-"
    out = deploy_cli("manage", "seed_buyers", str(count), "--prefix", prefix, timeout=300).stdout
    return [onsale_load.Buyer(*row) for row in json.loads(out.strip().splitlines()[-1])["buyers"]]


def entries(event_id: int) -> list[dict]:
    """The onsale's queue as the primary has it, in arrival order (id)."""
    code = (
        "import json; from boxoffice.models import QueueEntry, Onsale; "
        f"o = Onsale.objects.using('default').get(pk={event_id}); "
        f"rows = QueueEntry.objects.using('default').filter(onsale_id={event_id}).order_by('id'); "
        "print(json.dumps({'opens_at': o.opens_at.isoformat(), 'rows': [{'user': r.user_id, 'ordinal': r.ordinal, "
        "'state': r.state, 'joined_at': r.joined_at.isoformat(), "
        "'admitted_at': r.admitted_at.isoformat() if r.admitted_at else None} for r in rows]}))"
    )
    return json.loads(manage_py(code))


def sold(event_id: int) -> tuple[int, int]:
    code = (
        "from django.db.models import Sum; from boxoffice.models import Event, Order; "
        f"e = Event.objects.using('default').get(pk={event_id}); "
        f"print(e.tickets_sold, Order.objects.using('default').filter(event_id={event_id})"
        ".aggregate(n=Sum('quantity'))['n'] or 0)"
    )
    tickets_sold, ordered = manage_py(code).split()
    return int(tickets_sold), int(ordered)


def assert_fair(event_id: int) -> None:
    """Arrivals before the opening were shuffled; later ones kept their order; admission followed places."""
    q = entries(event_id)
    opens_at = datetime.fromisoformat(q["opens_at"])
    rows = q["rows"]
    early = [r for r in rows if datetime.fromisoformat(r["joined_at"]) < opens_at]
    late = [r for r in rows if datetime.fromisoformat(r["joined_at"]) >= opens_at]
    assert len(early) >= 300 and len(late) >= 50, (len(early), len(late))
    assert sorted(r["ordinal"] for r in early) == list(range(1, len(early) + 1))
    # Shuffled: the chance that 300 arrivals keep their arrival order by luck is nil (1/300!).
    assert [r["ordinal"] for r in early] != sorted(r["ordinal"] for r in early)
    late_ordinals = [r["ordinal"] for r in late]
    assert late_ordinals == sorted(late_ordinals), "later arrivals must be first come, first served"
    assert late_ordinals[0] == len(early) + 1
    by_place = sorted(rows, key=lambda r: r["ordinal"])
    admitted = [r for r in by_place if r["admitted_at"]]
    # Admission in place order: the admitted are a prefix of the line, admitted no earlier than those before.
    assert admitted == by_place[: len(admitted)]
    times = [r["admitted_at"] for r in admitted]
    assert times == sorted(times)


def test_a_surge_of_1000_buyers_for_200_tickets(cluster: Cluster) -> None:
    buyers = seed_buyers(1000)
    event_id = make_onsale(200, checkout=50, rate=50, opens_in=3600)

    def open_the_sale() -> None:
        # The organizer opens the sale once 300 buyers are in line (whatever the box's speed), while the
        # rest are still arriving: those 300 or so are shuffled, everyone after is first come, first served.
        wait_until(lambda: sum(1 for b in buyers if b.token) >= 300, "300 buyers in line", 90, 0.05)
        # As the admin's save would, under the onsale row's lock (which joins take too).
        manage_py(
            "from django.db import transaction; from django.utils import timezone; "
            "from boxoffice.models import Onsale\n"
            "with transaction.atomic(using='default'):\n"
            f"    o = Onsale.objects.using('default').select_for_update().get(pk={event_id})\n"
            "    o.opens_at = timezone.now(); o.save(update_fields=['opens_at'])\n"
            "print(o.opens_at)"
        )

    opener = threading.Thread(target=open_the_sale)
    opener.start()
    try:
        surge = onsale_load.run(
            lb_address(cluster), event_id, buyers, waiting_room=True, arrival_window_s=8, deadline_s=120
        )
    finally:
        opener.join(100)
    outcomes = surge.outcomes()
    assert outcomes["bought"] == 200, (outcomes, surge.statuses)
    # Everyone else was told it is sold out (or, past the deadline, still holds a place: checked below).
    assert outcomes["bought"] + outcomes["sold_out"] + outcomes["waiting"] == 1000, (outcomes, surge.statuses)
    assert not surge.errors(), surge.statuses
    assert sold(event_id) == (200, 200)
    # Checkout ran on both web nodes; the waiting room's requests never reached them (own backend).
    assert {b.served_by for b in buyers if b.outcome == "bought"} == {"web1", "web2"}
    assert all(b.positions == sorted(b.positions, reverse=True) for b in buyers), "a place moved back"
    for b in [b for b in buyers if b.outcome == "waiting"][:20]:
        r = BoxOffice(lb(cluster), cookies={"sessionid": b.session}).get(
            f"/api/events/{event_id}/queue?token={b.token}"
        )
        assert r.status_code == 200 and r.json()["state"] in ("waiting", "sold_out"), r.text
    assert_fair(event_id)


def _buyer(cluster: Cluster) -> BoxOffice:
    b = seed_buyers(1)[0]
    csrf = uuid.uuid4().hex
    return BoxOffice(lb(cluster), cookies={"sessionid": b.session, "csrftoken": csrf}, csrf=csrf)


def _admitted(bo: BoxOffice, event_id: int) -> tuple[str, dict]:
    joined = bo.post(f"/api/events/{event_id}/queue", headers={"X-CSRFToken": bo.csrf})
    assert joined.status_code == 201, joined.text
    token, state = joined.json()["token"], joined.json()
    deadline = time.monotonic() + 15
    while state["state"] != "admitted":
        assert time.monotonic() < deadline, state
        time.sleep(1)
        state = bo.get(f"/api/events/{event_id}/queue?token={token}").json()
    return token, state


def _buy(bo: BoxOffice, event_id: int, admission: str | None, key: str | None = None):
    headers = {"X-CSRFToken": bo.csrf, "Idempotency-Key": key or uuid.uuid4().hex}
    if admission is not None:
        headers["Admission-Token"] = admission
    return bo.post(f"/api/events/{event_id}/orders", json={"quantity": 1}, headers=headers)


def test_forged_replayed_foreign_and_expired_tokens_are_refused(cluster: Cluster) -> None:
    event_id = make_onsale(20, checkout=5, rate=5)
    alice, bob = _buyer(cluster), _buyer(cluster)
    refused = _buy(alice, event_id, None)
    assert refused.status_code == 403
    assert refused.json()["error"] == "admission_required"
    assert refused.json()["queue_url"] == f"/api/events/{event_id}/queue"

    token, state = _admitted(alice, event_id)
    admission = state["admission"]
    payload, _, signature = admission.rpartition(":")
    forged = f"{payload}:{signature[:-4]}AAAA"
    assert _buy(alice, event_id, forged).json()["error"] == "token_refused"
    assert bob.get(f"/api/events/{event_id}/queue?token={token}").json()["error"] == "token_refused"
    assert _buy(bob, event_id, admission).json()["error"] == "token_refused"  # bound to alice
    key = uuid.uuid4().hex
    bought = _buy(alice, event_id, admission, key)
    assert bought.status_code == 201, bought.text
    replay = _buy(alice, event_id, admission)  # a second purchase with the same admission
    assert replay.status_code == 403 and replay.json()["error"] == "admission_used", replay.text
    # The same Idempotency-Key is the same order, not a second one (and not a refusal).
    assert _buy(alice, event_id, admission, key).json()["id"] == bought.json()["id"]

    assert sold(event_id) == (1, 1)

    brief = make_onsale(20, checkout=5, rate=5, ttl=2)  # admissions last 2 s
    _token, state = _admitted(bob, brief)
    time.sleep(3)
    late = _buy(bob, brief, state["admission"])
    assert late.status_code == 403 and late.json()["error"] == "token_refused", late.text
    assert "expired" in late.json()["message"]
    assert sold(brief) == (0, 0)


def test_killing_a_web_and_a_queue_node_mid_onsale_loses_no_place(cluster: Cluster) -> None:
    buyers = seed_buyers(300)
    # 5 admissions/s: the 60 tickets take at least 12 s to sell, so the kill at ~3 s lands mid-sale.
    event_id = make_onsale(60, checkout=5, rate=5, opens_in=1)
    api = RuntimeAPI(cluster.paths.haproxy_admin_sock)
    victims = [("web", "web1"), ("queue", "queue1")]

    def chaos() -> None:
        time.sleep(3)
        before = {r["user"]: r["ordinal"] for r in entries(event_id)["rows"]}
        at_kill.append(sold(event_id)[0])
        for _backend, name in victims:
            deploy_cli("kill", name)
        time.sleep(4)
        for _backend, name in victims:
            deploy_cli("start", name)
        places.update(before)

    places: dict[int, int] = {}
    at_kill: list[int] = []
    killer = threading.Thread(target=chaos)
    killer.start()
    try:
        surge = onsale_load.run(
            lb_address(cluster), event_id, buyers, waiting_room=True, arrival_window_s=2, deadline_s=100
        )
    finally:
        killer.join(60)
        for backend, name in victims:
            wait_until(lambda b=backend, n=name: api.server(b, n).status.startswith("UP"), f"{name} UP", 40)
    outcomes = surge.outcomes()
    assert at_kill and at_kill[0] < 60, "the sale was over before the kill: not mid-onsale"
    assert outcomes["bought"] == 60 and outcomes["sold_out"] == 240, (outcomes, surge.statuses)
    assert sold(event_id) == (60, 60)
    # No buyer lost or changed place: the line is where it was before the kill, and nobody's token stopped
    # working or their position went back up.
    after = {r["user"]: r["ordinal"] for r in entries(event_id)["rows"]}
    assert places and all(after[user] == ordinal for user, ordinal in places.items())
    assert not [b.refused for b in buyers if "token_refused" in b.refused]
    assert all(b.positions == sorted(b.positions, reverse=True) for b in buyers)


def test_with_the_waiting_room_down_its_urls_get_the_busy_page_and_checkout_still_works(
    cluster: Cluster,
) -> None:
    api = RuntimeAPI(cluster.paths.haproxy_admin_sock)
    queue_nodes = [n.name for n in cluster.topo.by_role("queue")]
    event_id = make_onsale(5, checkout=5, rate=5)
    bo = _buyer(cluster)
    for name in queue_nodes:
        api.set_state("queue", name, "maint")
    try:
        r = bo.get(f"/api/events/{event_id}/queue?token=x")
        assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
        assert onsale_load.BUSY_MARK.decode() in r.text
        # Checkout and page views have their own nodes: untouched.
        assert bo.get(f"/api/events/{event_id}").status_code == 200
        assert _buy(bo, event_id, None).json()["error"] == "admission_required"
    finally:
        for name in queue_nodes:
            api.set_state("queue", name, "ready")
        for name in queue_nodes:
            wait_until(lambda n=name: api.server("queue", n).status.startswith("UP"), f"{name} UP", 20)


def test_a_crowd_of_logins_does_not_starve_page_views(cluster: Cluster) -> None:
    """40 logins at once (each ~170 ms of password hashing) queue behind page views, not ahead of them; those
    still queued after `timeout queue` get the busy page."""
    base = lb(cluster)
    login_s: list[float] = []
    page_s: list[float] = []
    lock = threading.Lock()

    statuses: list[tuple[int, str]] = []

    def log_in() -> None:
        started = time.monotonic()
        r = BoxOffice(base).post("/api/login", json={"username": "demo", "password": "demo"})
        with lock:
            login_s.append(time.monotonic() - started)
            busy = r.status_code == 503 and onsale_load.BUSY_MARK.decode() in r.text
            statuses.append((r.status_code, r.headers.get("Retry-After", "") if busy else ""))

    logins = [threading.Thread(target=log_in) for _ in range(40)]
    for t in logins:
        t.start()
    time.sleep(0.5)  # the logins fill the web nodes' queue
    viewer = BoxOffice(base)
    while any(t.is_alive() for t in logins):
        started = time.monotonic()
        assert viewer.get("/api/events").status_code == 200
        page_s.append(time.monotonic() - started)
        time.sleep(0.1)
    for t in logins:
        t.join()
    page_s.sort()
    login_s.sort()
    assert len(page_s) >= 5, "the logins ended too soon to measure anything"
    # A login that waited out `timeout queue` got the busy page with Retry-After, nothing else.
    assert {status for status, _ in statuses} <= {200, 503}, statuses
    assert all(retry.isdigit() for status, retry in statuses if status == 503), statuses
    # Page views wait at most for the login in progress on a node; logins wait for each other.
    assert page_s[len(page_s) * 9 // 10] < login_s[len(login_s) // 2], (page_s, login_s)


def test_organizers_see_the_line_admitted_and_sell_through_in_the_admin(cluster: Cluster) -> None:
    event_id = make_onsale(5, checkout=2, rate=2)
    title = manage_py(f"from boxoffice.models import Event; print(Event.objects.get(pk={event_id}).title)")
    buyers = [_buyer(cluster) for _ in range(4)]
    _token, state = _admitted(buyers[0], event_id)
    assert _buy(buyers[0], event_id, state["admission"]).status_code == 201
    for bo in buyers[1:]:
        assert bo.post(f"/api/events/{event_id}/queue", headers={"X-CSRFToken": bo.csrf}).status_code == 201
    admitted = sum(
        1 for r in entries(event_id)["rows"] if r["state"] == "admitted"
    )  # the pass may have admitted one or two more
    admin = requests.Session()
    admin.get(f"{lb(cluster)}/admin/login/")
    admin.post(
        f"{lb(cluster)}/admin/login/?next=/admin/",
        data={"username": "organizer", "password": "organizer", "next": "/admin/",
              "csrfmiddlewaretoken": admin.cookies["csrftoken"]},
    )  # fmt: skip
    page = admin.get(f"{lb(cluster)}/admin/boxoffice/onsale/")
    assert page.status_code == 200 and 'http-equiv="refresh"' in page.text
    row = next(r for r in page.text.split("<tr")[1:] if title in r)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
    # event, enabled, opens at, capacity, rate | in line, admitted now, bought, sell-through
    assert cells[-4:] == [str(3 - admitted), str(admitted), "1", "1/5 (20%)"], cells
