"""An onsale surge as buyers make it: bounded in count and time, aimed only at the cluster's load balancer.

Each simulated buyer arrives at its own moment within the arrival window and then, with the waiting room
on: joins the queue, polls when told to (``poll_after_s``), buys once admitted with its admission token;
with it off: buys at once. A busy 503 (HAProxy's page with Retry-After) is honoured: the buyer comes back
when told, with the same Idempotency-Key, so a retry never buys twice. A few browsers meanwhile ask an
ordinary page, so the page views' latency under the surge is measured too. Used by the integration test
(tests/integration/test_onsale.py) and `make bench` (deploy/commands/bench_onsale.py).
"""

from __future__ import annotations

import heapq
import http.client
import json
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# HAProxy's own 503 page (deploy/render/haproxy.py BUSY_PAGE) says this: the deliberate "come back later".
BUSY_MARK = b"Very busy right now"


@dataclass
class Buyer:
    user_id: int
    username: str
    session: str
    arrives_at: float = 0.0
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    token: str = ""
    admission: str = ""
    outcome: str = ""  # bought / sold_out / waiting (deadline) / error:<detail>
    positions: list[int] = field(default_factory=list)
    checkout_s: list[float] = field(default_factory=list)
    served_by: str = ""
    refused: list[str] = field(default_factory=list)


@dataclass
class Surge:
    buyers: list[Buyer]
    statuses: Counter = field(default_factory=Counter)  # (kind, status) -> n; status "busy" = busy 503
    page_views_s: list[float] = field(default_factory=list)
    page_statuses: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def errors(self) -> Counter:
        """Responses >= 500 that are not the deliberate busy 503."""
        return Counter({k: n for k, n in self.statuses.items() if isinstance(k[1], int) and k[1] >= 500})

    def outcomes(self) -> Counter:
        return Counter(b.outcome.split(":")[0] for b in self.buyers)


class _Http:
    """One keep-alive connection per thread to the load balancer."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn: http.client.HTTPConnection | None = None

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes | None = None):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2 or method != "GET":
                    raise
        raise AssertionError("unreachable")


def _headers(b: Buyer, csrf: str) -> dict[str, str]:
    return {"Cookie": f"sessionid={b.session}; csrftoken={csrf}", "X-CSRFToken": csrf}


class _Run:
    def __init__(self, lb: tuple[str, int], event_id: int, buyers: list[Buyer], waiting_room: bool) -> None:
        self.lb, self.event_id, self.waiting_room = lb, event_id, waiting_room
        self.surge = Surge(buyers)
        self.csrf = secrets.token_hex(16)  # a 32-character secret: Django accepts it unmasked
        self.lock = threading.Condition()
        self.heap: list[tuple[float, int, str]] = []
        self.pending = len(buyers)

    def schedule(self, at: float, i: int, step: str) -> None:
        with self.lock:
            heapq.heappush(self.heap, (at, i, step))
            self.lock.notify()

    def finish(self, b: Buyer, outcome: str) -> None:
        b.outcome = outcome
        with self.lock:
            self.pending -= 1
            self.lock.notify_all()

    def count(self, kind: str, status: int, body: bytes) -> int | str:
        mark: int | str = "busy" if status == 503 and BUSY_MARK in body else status
        with self.lock:
            self.surge.statuses[(kind, mark)] += 1
        return mark

    def step(self, conn: _Http, i: int, step: str, deadline: float) -> None:
        b = self.surge.buyers[i]
        now = time.monotonic()
        if now > deadline:
            self.finish(b, "waiting" if b.token else "error:deadline")
            return
        base = f"/api/events/{self.event_id}"
        hdrs = _headers(b, self.csrf)
        if step == "join":
            status, h, body = conn.send("POST", f"{base}/queue", hdrs)
            mark = self.count("join", status, body)
            if mark == 201:
                b.token = json.loads(body)["token"]
                return self.answer(b, i, json.loads(body))
            return self.retry_or_fail(b, i, step, mark, h, body)
        if step == "poll":
            status, h, body = conn.send("GET", f"{base}/queue", {**hdrs, "Queue-Token": b.token})
            mark = self.count("poll", status, body)
            if mark == 200:
                return self.answer(b, i, json.loads(body))
            return self.retry_or_fail(b, i, step, mark, h, body)
        # buy
        headers = {**hdrs, "Idempotency-Key": b.key, "Content-Type": "application/json"}
        if b.admission:
            headers["Admission-Token"] = b.admission
        started = time.monotonic()
        status, h, body = conn.send("POST", f"{base}/orders", headers, b'{"quantity": 1}')
        mark = self.count("buy", status, body)
        if mark in (200, 201):
            b.checkout_s.append(time.monotonic() - started)
            b.served_by = h.get("x-served-by", "")
            return self.finish(b, "bought")
        if mark == 409:
            return self.finish(b, "sold_out")
        return self.retry_or_fail(b, i, step, mark, h, body)

    def answer(self, b: Buyer, i: int, state: dict[str, Any]) -> None:
        now = time.monotonic()
        b.token = state.get("token", b.token)  # a place that got its ordinal comes with a fresher token
        if state["state"] == "waiting":
            if state.get("position") is not None:
                b.positions.append(state["position"])
            self.schedule(now + state.get("poll_after_s", 1), i, "poll")
        elif state["state"] == "admitted":
            b.admission = state["admission"]
            self.schedule(now, i, "buy")
        elif state["state"] in ("sold_out", "done"):
            self.finish(b, "sold_out" if state["state"] == "sold_out" else "bought")
        else:
            self.finish(b, f"error:{state['state']}")

    def retry_or_fail(self, b: Buyer, i: int, step: str, mark: Any, h: dict, body: bytes) -> None:
        if mark == "busy" or mark in (502, 503, 504):
            # HAProxy's busy page, or a node that died under the request: come back as told.
            self.schedule(time.monotonic() + float(h.get("retry-after", "1")), i, step)
        elif mark == 403 and step == "buy":
            b.refused.append(json.loads(body).get("error", "?"))
            b.admission = ""
            self.schedule(time.monotonic(), i, "join" if self.waiting_room else "buy")
        else:
            self.finish(b, f"error:{step}:{mark}:{body[:120]!r}")

    def worker(self, deadline: float) -> None:
        conn = _Http(*self.lb)
        while True:
            with self.lock:
                while True:
                    if self.pending == 0:
                        return
                    if self.heap and self.heap[0][0] <= time.monotonic():
                        _at, i, step = heapq.heappop(self.heap)
                        break
                    self.lock.wait(
                        min(0.05, max(0.0, self.heap[0][0] - time.monotonic())) if self.heap else 0.05
                    )
            try:
                self.step(conn, i, step, deadline)
            except (OSError, http.client.HTTPException) as exc:
                # The connection broke (a node died mid-request): retry; the same Idempotency-Key makes a
                # purchase's retry safe, and a join finds the place it may already have.
                with self.lock:
                    self.surge.statuses[(step, f"conn:{type(exc).__name__}")] += 1
                self.schedule(time.monotonic() + 1, i, step)


def browse(lb: tuple[str, int], path: str, stop: threading.Event, surge: Surge, lock: threading.Lock) -> None:
    """One browser asking ``path`` back to back until ``stop``: the page views' latency under the surge."""
    conn = _Http(*lb)
    while not stop.is_set():
        started = time.monotonic()
        try:
            status, _h, body = conn.send("GET", path, {})
        except (OSError, http.client.HTTPException):
            status, body = 599, b""
        with lock:
            surge.page_views_s.append(time.monotonic() - started)
            surge.page_statuses["busy" if status == 503 and BUSY_MARK in body else status] += 1
        time.sleep(0.05)


def run(
    lb: tuple[str, int],
    event_id: int,
    buyers: list[Buyer],
    *,
    waiting_room: bool,
    arrival_window_s: float,
    deadline_s: float,
    threads: int = 64,
    browsers: int = 4,
    browse_path: str = "/api/events",
) -> Surge:
    """Run the surge; returns when every buyer has an outcome or ``deadline_s`` has passed (then: waiting)."""
    state = _Run(lb, event_id, buyers, waiting_room)
    start = time.monotonic()
    for i, b in enumerate(buyers):
        b.arrives_at = arrival_window_s * i / max(1, len(buyers) - 1)
        state.schedule(start + b.arrives_at, i, "join" if waiting_room else "buy")
    deadline = start + deadline_s
    stop, page_lock = threading.Event(), threading.Lock()
    pages = [
        threading.Thread(target=browse, args=(lb, browse_path, stop, state.surge, page_lock))
        for _ in range(browsers)
    ]
    workers = [threading.Thread(target=state.worker, args=(deadline,)) for _ in range(threads)]
    for t in (*pages, *workers):
        t.start()
    for t in workers:
        t.join(deadline_s + 60)
    stop.set()
    for t in pages:
        t.join(35)
    state.surge.seconds = time.monotonic() - start
    return state.surge
