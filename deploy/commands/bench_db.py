"""`make bench`, database section: what synchronous replication costs in write throughput, and what the
PgBouncer hop costs the event detail view. Both side by side in one run, interleaved, bounded.
"""

from __future__ import annotations

import json
import statistics
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from ..clients import probes
from ..model.defaults import PG_BIN_DIR
from ..model.topology import Node
from .context import Cluster
from .django_ops import run_manage
from .postgres import synchronous_settings
from .progress import Progress

BENCH_DB = "tiers_bench"
PGBENCH_SECONDS = 4
PGBENCH_CLIENTS = (1, 4)
ROUNDS = 2
DETAIL_BATCHES = 20
DETAIL_BATCH = 25

# Run inside Django (manage.py shell) with a web node's environment (through the pooler): GET one event's
# detail view in batches, switching every alias between the pooler and the direct endpoints before each
# batch (one warm-up request reconnects), so both paths see the same moments of a shared machine.
_DETAIL_CODE = """
import json, time
from django.db import connections
from django.test import Client
c = Client(HTTP_HOST={host!r})
paths = {{"pooled": {{a: (connections[a].settings_dict["HOST"], connections[a].settings_dict["PORT"],
                        connections[a].settings_dict["NAME"]) for a in connections}}, "direct": {direct!r}}}
ms = {{"pooled": [], "direct": []}}
for batch in range({batches}):
    for label, targets in paths.items():
        for alias, (host, port, name) in targets.items():
            connections[alias].close()
            connections[alias].settings_dict.update(HOST=host, PORT=str(port), NAME=name)
        assert c.get({path!r}).status_code == 200
        began = time.perf_counter()
        for _ in range({n}):
            assert c.get({path!r}).status_code == 200
        ms[label].append((time.perf_counter() - began) * 1000 / {n})
print(json.dumps(ms))
"""


def pgbench_argv(cluster: Cluster, leader: Node, args: list[str]) -> list[str]:
    """pgbench as the postgres superuser on the leader's own socket (run on the leader's host)."""
    paths = cluster.place.host_paths(leader)
    return [
        "runuser", "-u", "postgres", "--", str(PG_BIN_DIR / "pgbench"), "-h", str(paths.socket_dir(leader.name)),
        "-p", str(leader.port), "-U", "postgres", *args, BENCH_DB,
    ]  # fmt: skip


def simple_update_args(clients: int) -> list[str]:
    """pgbench's built-in simple-update: one UPDATE, SELECT and INSERT per commit, for PGBENCH_SECONDS."""
    return [
        "-n",
        "-b",
        "simple-update",
        "-c",
        str(clients),
        "-j",
        str(min(clients, 2)),
        "-T",
        str(PGBENCH_SECONDS),
    ]


def _tps(output: str) -> float:
    for line in output.splitlines():
        if line.startswith("tps = "):
            return float(line.split()[2])
    raise RuntimeError(f"pgbench printed no tps:\n{output[-1000:]}")


@contextmanager
def _bench_database(cluster: Cluster, leader: Node) -> Iterator[None]:
    pg = cluster.pg
    pg.psql(leader, f"DROP DATABASE IF EXISTS {BENCH_DB}; CREATE DATABASE {BENCH_DB}")
    cluster.place.transport(leader).run(pgbench_argv(cluster, leader, ["-i", "-q", "-s", "1"]), timeout=120)
    try:
        yield
    finally:
        pg.psql(leader, f"DROP DATABASE IF EXISTS {BENCH_DB}")


def _set_synchronous(cluster: Cluster, enabled: bool) -> None:
    pg = cluster.pg
    pg.set_dcs(synchronous_settings(cluster.topo, enabled))
    probes.wait_for(
        lambda: bool(pg.commit_waits_for()) == enabled, f"synchronous_mode={enabled} in effect", 60
    )


def synchronous_cost(cluster: Cluster, progress: Progress) -> list[str]:
    leader = cluster.pg.leader()
    if leader is None:
        raise RuntimeError("no Patroni leader: the write benchmark needs one")
    tps: dict[tuple[bool, int], list[float]] = {}
    step = f"pgbench simple-update, sync vs async, {ROUNDS} rounds x {PGBENCH_CLIENTS} clients"
    with progress.step(step), _bench_database(cluster, leader):
        try:
            for _ in range(ROUNDS):
                for enabled in (False, True):
                    _set_synchronous(cluster, enabled)
                    for clients in PGBENCH_CLIENTS:
                        argv = pgbench_argv(cluster, leader, simple_update_args(clients))
                        out = cluster.place.transport(leader).run(argv, timeout=PGBENCH_SECONDS + 60)
                        tps.setdefault((enabled, clients), []).append(_tps(out.stdout))
        finally:
            _set_synchronous(cluster, cluster.topo.database.synchronous_mode)
    rows, ratios = [], []
    for clients in PGBENCH_CLIENTS:
        a, s = statistics.median(tps[(False, clients)]), statistics.median(tps[(True, clients)])
        ratios.append(f"{s / a:.2f} with {clients} client(s)")
        rows.append(f"| {clients} | {a:,.0f} | {s:,.0f} | **{s / a:.2f}** |")
    return [
        "## Database: synchronous replication's write cost",
        "",
        f"pgbench's built-in `simple-update` (UPDATE + SELECT + INSERT, one commit each) on the leader "
        f"({leader.name}) for {PGBENCH_SECONDS} s per run, asynchronous and synchronous (Patroni's "
        f"`synchronous_mode` switched with `patronictl edit-config` between runs), {ROUNDS} interleaved rounds, "
        "median tps shown; the topology's setting is restored after.",
        "",
        "| clients | async tps | sync tps | sync / async |",
        "|---|---|---|---|",
        *rows,
        "",
        f"- **Synchronous / asynchronous write throughput: {', '.join(ratios)}.**",
        "",
    ]


def direct_targets(cluster: Cluster) -> dict[str, tuple[str, int, str]]:
    """Every Django alias's endpoint without the pooler: dbproxy for ``default``, each DB node for its own."""
    proxy, name = cluster.topo.one("dbproxy"), cluster.topo.database.name
    return {
        "default": (proxy.address, proxy.port, name),
        **{n.name: (n.address, n.port, name) for n in cluster.topo.by_role("db")},
    }


def pooler_overhead(cluster: Cluster, progress: Progress, event_id: int) -> list[str]:
    if not cluster.topo.by_role("pgbouncer"):
        return []
    pooler, web = cluster.topo.one("pgbouncer"), cluster.topo.by_role("web")[0]
    path = f"/api/events/{event_id}"
    code = _DETAIL_CODE.format(host=web.address, path=path, direct=direct_targets(cluster),
                               batches=DETAIL_BATCHES, n=DETAIL_BATCH)  # fmt: skip
    step = f"event detail in Django, through PgBouncer vs direct, {DETAIL_BATCHES} alternating batches"
    with progress.step(step):
        out = run_manage(cluster, ["shell", "--no-imports", "-c", code], timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"event detail timing failed: {(out.stderr or out.stdout)[-1000:]}")
    runs = json.loads(out.stdout.strip().splitlines()[-1])
    pooled, direct = statistics.median(runs["pooled"]), statistics.median(runs["direct"])
    diffs = [p - d for p, d in zip(runs["pooled"], runs["direct"], strict=True)]
    return [
        "## Database: the PgBouncer hop on the event detail view",
        "",
        f"`{path}` (exact seat count, read from a replica) by Django's test client in one process with a web "
        f"node's environment, {DETAIL_BATCHES} batches of {DETAIL_BATCH} per path, alternating: every alias "
        f"through {pooler.name} ({pooler.endpoint}), then straight to dbproxy and the DB nodes (connections "
        "reopened and warmed before each batch). Medians of the batches.",
        "",
        "| path | ms per request | fastest batch | slowest batch |",
        "|---|---|---|---|",
        *(
            f"| {label} | {statistics.median(v):.2f} | {min(v):.2f} | {max(v):.2f} |"
            for label, v in (("through PgBouncer", runs["pooled"]), ("direct", runs["direct"]))
        ),
        "",
        f"- **PgBouncer overhead on the event detail view: {pooled - direct:+.2f} ms per request "
        f"({pooled / direct:.2f}x the direct time; median of the per-batch differences "
        f"{statistics.median(diffs):+.2f} ms).**",
        "",
    ]


def database(cluster: Cluster, progress: Progress) -> list[str]:
    lb = cluster.topo.one("lb")
    with urllib.request.urlopen(f"http://{lb.address}:{lb.port}/api/events", timeout=5) as r:
        event_id = json.load(r)["events"][0]["id"]
    return synchronous_cost(cluster, progress) + pooler_overhead(cluster, progress, event_id)
