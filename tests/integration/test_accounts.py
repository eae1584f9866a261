"""Issue 12, the application half, on the real cluster: sessions in memcached, login throttling, the login
endpoint's cross-site guard, the per-buyer cap, bounded lists and the admin allowlist.

Throttling and allowlist tests connect from loopback sources of their own (in the cluster's 127.N block),
so their counters never lock out the other tests, which come from 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import secrets
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from pymemcache.client.base import Client
from requests.adapters import HTTPAdapter

from deploy.commands.context import Cluster
from tests.integration.client import BoxOffice
from tests.integration.helpers import create_event, lb, manage_py, wait_until, web

pytestmark = pytest.mark.integration

FLAG_PICKLE = 1  # pymemcache's pickle_serde flag: what Django's default memcached backend writes


# --- helpers ---


def source(cluster: Cluster, n: int) -> str:
    """A client address of the tests' own: 127.<cluster block>.250.n, never exempt nor allowlisted."""
    block = cluster.topo.one("lb").address.split(".")[1]
    return f"127.{block}.250.{n}"


class _SourceAdapter(HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def from_source(address: str) -> requests.Session:
    s = requests.Session()
    s.mount("http://", _SourceAdapter(address))
    return s


def new_user() -> tuple[str, str]:
    name, password = f"u{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(12)
    manage_py(
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user({name!r}, password={password!r}); print('ok')"
    )
    return name, password


def login(http: requests.Session, base: str, username: str, password: str, **kw: Any) -> requests.Response:
    # Generous: a password check is ~0.2 s of CPU alone, and several seconds on a contended machine.
    return http.post(
        f"{base}/api/login", json={"username": username, "password": password}, timeout=120, **kw
    )


class Raw:
    """pymemcache serde that hands bytes and flags through untouched: what an attacker on :11211 sees."""

    def serialize(self, key: bytes, value: tuple[bytes, int]) -> tuple[bytes, int]:
        return value

    def deserialize(self, key: bytes, value: bytes, flags: int) -> tuple[bytes, int]:
        return value, flags


def cache_clients(cluster: Cluster) -> list[Client]:
    return [
        Client((n.address, n.port), serde=Raw(), connect_timeout=2, timeout=2)
        for n in cluster.topo.by_role("cache")
    ]


def metadump(address: str, port: int) -> str:
    """`lru_crawler metadump all`: every key a cache node holds (URL-encoded), as an intruder lists them."""
    with socket.create_connection((address, port), timeout=5) as s:
        s.sendall(b"lru_crawler metadump all\r\n")
        out = b""
        while not out.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            assert chunk, "memcached closed the connection mid-dump"
            out += chunk
    return out.decode()


def django_key(cluster: Cluster, key: str) -> str:
    return f"tiers-{cluster.topo.cluster.name}:1:{key}"


def username_on_page(base: str, session_key: str) -> str | None:
    """Who the site thinks this session cookie is (the nav's "Log out <name>"), or None."""
    r = requests.get(f"{base}/", cookies={"sessionid": session_key}, timeout=10)
    assert r.status_code == 200, r.status_code
    found = re.search(r"Log out ([^<]+)</button>", r.text)
    return found.group(1).strip() if found else None


# --- sessions ---


def test_a_forged_session_in_memcached_logs_nobody_in(cluster: Cluster, tmp_path: Path) -> None:
    """Probe: pymemcache straight against every cache node (get, set, lru_crawler metadump)."""
    base = lb(cluster)
    http = requests.Session()
    assert login(http, base, "demo", "demo").status_code == 200
    real = http.cookies["sessionid"]
    hashed = django_key(cluster, "tiers.session." + hashlib.sha256(real.encode()).hexdigest())
    nodes = cache_clients(cluster)
    # What the cache holds for a live session: signed JSON under a hash of the key, not a pickle.
    entries = [c.get(hashed) for c in nodes]
    [(stored, flags)] = [e for e in entries if e is not None]
    mac, _, payload = stored.partition(b".")
    data = json.loads(payload)
    assert flags == 1 << 8 and len(mac) == 64 and data["_auth_user_id"]
    # A listing of every key gives nothing to put in a cookie.
    dumps = "".join(metadump(n.address, n.port) for n in cluster.topo.by_role("cache"))
    assert real not in dumps
    assert hashlib.sha256(real.encode()).hexdigest() in dumps

    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (marker,))

    forged = secrets.token_hex(16)  # a session key the attacker chooses for the cookie
    forged_hashed = django_key(cluster, "tiers.session." + hashlib.sha256(forged.encode()).hexdigest())
    legacy = django_key(cluster, "django.contrib.sessions.cached_db" + forged)  # Django's own cached_db key
    for c in nodes:
        # demo's real session data, as pickles (what Django's memcached backend would have unpickled) ...
        c.set(legacy, (pickle.dumps(data), FLAG_PICKLE))
        c.set(forged_hashed, (pickle.dumps(data), FLAG_PICKLE))
    assert username_on_page(base, forged) is None
    for c in nodes:
        # ... demo's signed entry copied byte for byte to the forged key (the MAC covers the key) ...
        c.set(forged_hashed, (stored, flags))
    assert username_on_page(base, forged) is None
    assert requests.get(f"{base}/api/orders", cookies={"sessionid": forged}, timeout=10).status_code == 401
    for c in nodes:
        # ... and a pickle that would run code when loaded.
        c.set(forged_hashed, (pickle.dumps(Payload()), FLAG_PICKLE))
    assert username_on_page(base, forged) is None
    assert not marker.exists(), "a web node unpickled a cache entry"
    # Rewriting the real session's entry to name another user changes nothing: the database's copy wins.
    demo2 = manage_py(
        "from django.contrib.auth.models import User; print(User.objects.get(username='demo2').pk)"
    )
    for c in nodes:
        c.set(hashed, (mac + b"." + json.dumps({**data, "_auth_user_id": demo2}).encode(), flags))
    assert username_on_page(base, real) == "demo"


# --- login throttling ---


def test_the_eleventh_wrong_password_in_a_minute_is_refused_even_when_then_right(cluster: Cluster) -> None:
    """Probe: POST /api/login through the load balancer from a loopback source of the test's own."""
    base = lb(cluster)
    username, password = new_user()
    attacker = from_source(source(cluster, 1))
    for i in range(10):
        r = login(attacker, base, username, f"wrong-{i}")
        assert r.status_code == 401, (i, r.text)
    r = login(attacker, base, username, password)
    assert r.status_code == 429, r.text
    assert r.json()["error"] == "too_many_login_failures"
    assert 1 <= int(r.headers["Retry-After"]) <= 120
    assert "sessionid" not in r.cookies
    # The login page shares the throttle (it sits in authenticate(), under every login view).
    assert attacker.get(f"{base}/accounts/login/", timeout=10).status_code == 200
    form = {"username": username, "password": password, "csrfmiddlewaretoken": attacker.cookies["csrftoken"]}
    r = attacker.post(f"{base}/accounts/login/", data=form, timeout=30, allow_redirects=False)
    assert r.status_code == 429 and r.headers["Retry-After"].isdigit(), r.text[:300]
    # Per username: the right password from another address is refused too ...
    assert login(from_source(source(cluster, 2)), base, username, password).status_code == 429
    # ... while another user from the attacker's address still logs in (the address limit is higher).
    assert login(attacker, base, "demo2", "demo2").status_code == 200


def test_thirty_concurrent_guesses_get_exactly_ten_password_checks(cluster: Cluster) -> None:
    """Probe: 30 simultaneous POST /api/login for one user from one source, straight to both web nodes
    (their counts are shared; and no LB queue timeout turns slow password checks into 503s)."""
    username, _ = new_user()
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(30)

    def guess(i: int) -> None:
        http = from_source(source(cluster, 3))
        start.wait()
        r = login(http, web(cluster, i % 2), username, f"guess-{i}")
        with lock:
            statuses.append(r.status_code)

    run_all([lambda i=i: guess(i) for i in range(30)])
    assert Counter(statuses) == {401: 10, 429: 20}, Counter(statuses)


def test_an_address_with_too_many_failures_is_refused_whatever_it_claims(cluster: Cluster) -> None:
    """Probe: 30 wrong logins on 30 usernames from one source straight to the web nodes, then logins with
    and without a forged X-Forwarded-For through the LB (which reports the same source) and directly."""
    base = lb(cluster)
    address = source(cluster, 4)

    def fail(i: int) -> None:
        r = login(from_source(address), web(cluster, i % 2), f"nobody-{uuid.uuid4().hex[:8]}-{i}", "wrong")
        assert r.status_code == 401, r.text

    run_all([lambda i=i: fail(i) for i in range(30)], parallel=2)
    http = from_source(address)
    r = login(http, base, "demo", "demo", headers={"X-Forwarded-For": "198.51.100.1"})
    assert r.status_code == 429 and "address" in r.json()["message"]
    # Straight to a web node the claim is ignored too: the node is not the LB, its REMOTE_ADDR counts.
    r = login(http, web(cluster, 0), "demo", "demo", headers={"X-Forwarded-For": "198.51.100.1"})
    assert r.status_code == 429
    assert login(requests.Session(), base, "demo", "demo").status_code == 200  # other addresses: fine


def run_all(jobs: list[Callable[[], None]], parallel: int | None = None) -> None:
    """Run the jobs on threads (``parallel`` at a time, all at once by default); re-raise a failure."""
    errors: list[BaseException] = []
    width = parallel or len(jobs)
    for at in range(0, len(jobs), width):

        def run(job: Callable[[], None]) -> None:
            try:
                job()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(job,)) for job in jobs[at : at + width]]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    if errors:
        raise errors[0]


# --- the login endpoint's cross-site guard ---


def test_a_cross_site_text_plain_login_is_refused(cluster: Cluster) -> None:
    """Probe: what a cross-site HTML form can POST to /api/login (text/plain, a foreign Origin)."""
    base = lb(cluster)
    body = json.dumps({"username": "demo", "password": "demo"})
    form = {
        "Content-Type": "text/plain",
        "Origin": "https://attacker.example",
        "Sec-Fetch-Site": "cross-site",
    }
    r = requests.post(f"{base}/api/login", data=body, headers=form, timeout=10)
    assert r.status_code == 403 and r.json()["error"] == "cross_site_login"
    assert "sessionid" not in r.cookies
    r = requests.post(f"{base}/api/login", data=body, headers={"Content-Type": "text/plain"}, timeout=10)
    assert r.status_code == 415 and "application/json" in r.json()["message"]
    same_site = {"Content-Type": "application/json", "Origin": base}
    assert requests.post(f"{base}/api/login", data=body, headers=same_site, timeout=10).status_code == 200


# --- the per-buyer cap ---


def test_a_buyer_cannot_exceed_the_cap(cluster: Cluster) -> None:
    """Probe: POST /api/events/<id>/orders as one buyer, one after another through the LB."""
    event_id = create_event(100, "Capped", max_per_buyer=4)
    bo = BoxOffice(lb(cluster)).login("demo", "demo")
    assert bo.buy(event_id, 3).status_code == 201
    r = bo.buy(event_id, 2)
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "per_buyer_cap" and r.json()["tickets_held"] == 3
    assert bo.buy(event_id, 1).status_code == 201
    assert bo.buy(event_id, 1).status_code == 409
    assert bo.get(f"/api/events/{event_id}").json()["tickets_left"] == 96  # refusals took no seat
    assert BoxOffice(lb(cluster)).login("demo2", "demo2").buy(event_id, 4).status_code == 201  # per buyer


def test_concurrent_purchases_by_one_buyer_stay_within_the_cap(cluster: Cluster) -> None:
    """Probe: 20 simultaneous purchases of one ticket by the same buyer on both web nodes."""
    event_id = create_event(100, "Capped rush", max_per_buyer=5)
    one = BoxOffice(web(cluster, 0)).login("demo2", "demo2")
    two = one.on(web(cluster, 1))
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def buy(client: BoxOffice) -> None:
        start.wait()
        r = client.buy(event_id, 1)
        with lock:
            statuses.append(r.status_code)

    run_all([lambda c=(one if i % 2 else two): buy(c) for i in range(20)])
    assert Counter(statuses) == {201: 5, 409: 15}, Counter(statuses)
    assert one.get(f"/api/events/{event_id}").json()["tickets_left"] == 95


# --- bounded lists ---


def test_no_list_answer_exceeds_its_page_size(cluster: Cluster) -> None:
    """Probe: GET /api/orders, /api/events, /orders/ and / for a buyer with 230 orders, following `next`."""
    username, password = new_user()
    event_id = create_event(1000, "Many orders")
    manage_py(
        "from django.contrib.auth.models import User; from boxoffice.models import Order; "
        f"u = User.objects.get(username={username!r}); "
        f"Order.objects.bulk_create([Order(user=u, event_id={event_id}, quantity=1, unit_price='1.00', "
        "idempotency_key=f'k{i}') for i in range(230)]); print('ok')"
    )
    manage_py(
        "import datetime; from django.utils import timezone; from boxoffice.models import Event; "
        "Event.objects.bulk_create([Event(title=f'Listed {i}', venue='Hall', capacity=10, price='1.00', "
        "starts_at=timezone.now() + datetime.timedelta(days=40)) for i in range(25)]); "
        "from boxoffice.caching import event_changed; event_changed(Event, Event.objects.last()); print('ok')"
    )
    bo = BoxOffice(lb(cluster)).login(username, password)
    wait_until(lambda: len(bo.every("/api/events", "events")) >= 25, "the new events in the cached list", 15)
    first = bo.get("/api/orders").json()
    assert len(first["orders"]) == 20 and first["next"].startswith("/api/orders?cursor=")
    seen: list[int] = []
    link: str | None = "/api/orders?limit=100"
    while link:
        page = bo.get(link).json()
        assert len(page["orders"]) <= 100
        seen += [o["id"] for o in page["orders"]]
        link = page["next"]
    assert len(seen) == len(set(seen)) == 230
    assert seen == sorted(seen, reverse=True)  # newest first, nothing repeated or skipped
    assert bo.get("/api/orders?limit=101").status_code == 400
    assert bo.get("/api/orders?cursor=garbage").json()["field"] == "cursor"
    events = bo.get("/api/events").json()
    assert len(events["events"]) <= 20 and events["next"]
    assert len(bo.every("/api/events", "events", limit=7)) >= 25
    orders_page = bo.get("/orders/").text
    assert orders_page.count('<tr class="order">') == 20 and 'id="next-page"' in orders_page
    assert bo.get("/").text.count('<li class="event">') == 20


# --- the admin allowlist ---


def test_the_admin_answers_only_the_allowlist(cluster: Cluster) -> None:
    """Probe: GET /admin/login/ through the LB and straight to a web node, from allowed and other sources."""
    base = lb(cluster)
    assert requests.get(f"{base}/admin/login/", timeout=10).status_code == 200  # 127.0.0.1: allowlisted
    outsider = from_source(source(cluster, 5))
    assert outsider.get(f"{base}/admin/login/", timeout=10).status_code == 404
    assert outsider.get(f"{base}/admin/", timeout=10).status_code == 404
    claim = {"X-Forwarded-For": "127.0.0.1"}
    assert outsider.get(f"{web(cluster, 0)}/admin/login/", headers=claim, timeout=10).status_code == 404
    assert outsider.get(f"{base}/api/events", timeout=10).status_code == 200  # the rest of the site: open
