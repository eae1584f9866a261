"""`make bench`: bounded load runs against a running cluster, figures as ratios measured side by side.

Every run is bounded in time and count and targets only the cluster's loopback addresses. The
result is written to docs/BENCHMARKS.md (replacing the section between the generated markers).
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookiejar import CookieJar
from pathlib import Path

from .bench_db import database
from .bench_edge import edge
from .bench_layer import layer_cost
from .bench_media import media_tier
from .bench_onsale import onsale
from .context import Cluster
from .django_ops import manage
from .progress import Progress
from .wrk import median_runs

BEGIN = "<!-- bench:begin (written by `make bench`; edit outside these markers) -->"
END = "<!-- bench:end -->"


@dataclass
class Mix:
    statuses: Counter = field(default_factory=Counter)
    requests: int = 0
    # How many responses had their database reads served by each alias (X-DB-Reads).
    reads: Counter = field(default_factory=Counter)

    def reads_by_replicas(self, db_nodes: set[str]) -> int:
        return sum(n for alias, n in self.reads.items() if alias in db_nodes)


def create_event(cluster: Cluster, title: str, capacity: int) -> int:
    """A fresh event for the benchmark's purchases (seeded events sell out over repeated runs); a buyer
    may buy all of it (the per-buyer cap would otherwise turn the mix's purchases into 409s)."""
    argv = ["create_event", title, "--capacity", str(capacity), "--max-per-buyer", str(max(1, capacity))]
    out = manage(cluster, argv, quiet=True, timeout=60)
    return int(json.loads(out.strip().splitlines()[-1])["id"])


def browse_and_buy(
    base: str, users: list[tuple[str, str]], seconds: float, buy_event: int, buy_share: float = 0.05
) -> Mix:
    """Each user browses (list, detail, my orders) and now and then buys one ticket of `buy_event`."""
    mix = Mix()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run(username: str, password: str) -> None:
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

        def call(method: str, path: str, body: dict | None = None, headers: dict | None = None) -> int:
            """Send one request; count its status and the aliases that served its reads."""
            req = urllib.request.Request(
                base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                headers={"Content-Type": "application/json", **(headers or {})},
            )  # fmt: skip
            try:
                with opener.open(req, timeout=10) as r:
                    r.read()
                    status, served = r.status, r.headers.get("X-DB-Reads", "")
            except urllib.error.HTTPError as exc:
                status, served = exc.code, exc.headers.get("X-DB-Reads", "")
            with lock:
                for alias in served.split(","):
                    if alias and alias != "none":
                        mix.reads[alias] += 1
            return status

        login = urllib.request.Request(
            base + "/api/login", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"username": username, "password": password}).encode(),
        )  # fmt: skip
        with opener.open(login, timeout=10) as r:
            csrf = json.load(r)["csrf_token"]
        with opener.open(base + "/api/events", timeout=10) as r:
            events = [e["id"] for e in json.load(r)["events"]]
        rng = random.Random(username)
        while time.monotonic() < deadline:
            roll = rng.random()
            if roll < buy_share:
                status = call("POST", f"/api/events/{buy_event}/orders", {"quantity": 1},
                              {"X-CSRFToken": csrf, "Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
            elif roll < 0.45:
                status = call("GET", "/api/events")
            elif roll < 0.8:
                status = call("GET", f"/api/events/{rng.choice(events)}")
            else:
                status = call("GET", "/api/orders")
            with lock:
                mix.statuses[status] += 1
                mix.requests += 1

    threads = [threading.Thread(target=run, args=u) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return mix


# --- the run -----------------------------------------------------------------------------------------

Section = Callable[[Cluster, Progress], list[str]]


def data_tier(cluster: Cluster, progress: Progress) -> list[str]:
    lb = cluster.topo.one("lb")
    base = f"http://{lb.address}:{lb.port}"
    with urllib.request.urlopen(base + "/api/events", timeout=5) as r:
        event_id = json.load(r)["events"][0]["id"]
    targets = {
        "trivial view (`/healthz`)": base + "/healthz",
        "cached event list (`/api/events`)": base + "/api/events",
        f"event detail (`/api/events/{event_id}`, exact seat count)": f"{base}/api/events/{event_id}",
    }
    with progress.step("wrk: trivial view, cached list, detail (3 interleaved rounds of 5 s)"):
        runs = median_runs(targets)
    trivial = runs["trivial view (`/healthz`)"].rps
    cached = runs["cached event list (`/api/events`)"].rps
    with progress.step("browse-and-buy mix (4 users, 15 s)"):
        onsale = create_event(cluster, "Bench onsale", 1_000_000)
        mix = browse_and_buy(base, [("demo", "demo"), ("demo2", "demo2")] * 2, seconds=15, buy_event=onsale)
    replicas = mix.reads_by_replicas({n.name for n in cluster.topo.by_role("db")})
    primary = mix.reads.get("default", 0)
    share = replicas / max(1, replicas + primary)
    return [
        "## Data tier: HAProxy -> uWSGI -> router / memcached",
        "",
        "`wrk -t2 -c16 -d5s --latency` through the load balancer; 3 rounds interleaved, median run shown.",
        "",
        "| target | req/s | p50 ms | p99 ms | requests | errors |",
        "|---|---|---|---|---|---|",
        *(r.row(label) for label, r in runs.items()),
        "",
        f"- **Cached event list / trivial view: {cached / trivial:.2f}** (target >= 0.70).",
        f"- **Browse-and-buy mix**: {mix.requests:,} requests by 4 logged-in users in 15 s "
        f"(45% list, 35% detail, 15% my orders, 5% buy of a fresh event that cannot sell out); statuses {dict(sorted(mix.statuses.items()))}.",
        f"- **Reads served by replicas: {share:.1%}** of the database reads of that mix ({replicas:,} by "
        f"replicas, {primary:,} by the primary; counted from each response's `X-DB-Reads`) (target >= 90%).",
        "",
    ]


SECTIONS: dict[str, Section] = {
    "data": data_tier,
    "database": database,
    "media": media_tier,
    "edge": edge,
    "onsale": onsale,
    "layer": layer_cost,
}


def replace_sections(block: str, fresh: list[str]) -> str:
    """``block`` (the generated text between the markers) with the "## " sections in ``fresh`` replaced
    (matched by heading) or, when new, added at the end; the rest is kept as it was."""
    chunks: list[list[str]] = [[]]
    for line in block.splitlines():
        if line.startswith("## "):
            chunks.append([])
        chunks[-1].append(line)
    new = {lines[0]: lines for lines in _split(fresh)}
    kept = [new.pop(c[0], c) if c and c[0].startswith("## ") else c for c in chunks]
    # Each section ends with one blank line, whatever it came with.
    return "\n".join(line for c in [*kept, *new.values()] for line in [*_trimmed(c), ""])


def _trimmed(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


def _split(lines: list[str]) -> list[list[str]]:
    out: list[list[str]] = []
    for line in lines:
        if line.startswith("## ") or not out:
            out.append([])
        out[-1].append(line)
    return out


def run(cluster: Cluster, out: Path, only: list[str] | None = None) -> str:
    """Run the sections (``only``: those named, replacing just their part of the generated block)."""
    progress = Progress(f"Benchmarks against cluster {cluster.topo.cluster.name!r}")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    chosen = [SECTIONS[name] for name in only] if only else list(SECTIONS.values())
    fresh: list[str] = []
    for section in chosen:
        fresh += section(cluster, progress)
    text = out.read_text() if out.exists() else "# Benchmarks\n\nRun with `make bench` (needs `make up`).\n\n"
    if only and BEGIN in text and END in text:
        old = text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")
        fresh = [replace_sections(old, [*fresh]).rstrip("\n"), ""]
        body = [BEGIN, *fresh]
    else:
        body = [
            BEGIN,
            f"_Last run: {when}, cluster `{cluster.topo.cluster.name}`, {len(cluster.topo.by_role('web'))} web nodes; "
            "load generator on the same 2 cores as the cluster, so absolute numbers are low and ratios are what "
            "matter._",
            "",
            *fresh,
        ]
    body.append(END)
    generated = "\n".join(body) + "\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + generated + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + generated
    out.write_text(text)
    progress.say(f"wrote {out}")
    return generated
