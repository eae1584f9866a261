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
from ..render.pgbouncer import replica_pool
from .context import Cluster
from .django_ops import run_manage
from .postgres import synchronous_settings
from .progress import Progress

BENCH_DB = "tiers_bench"
PGBENCH_SECONDS = 4
PGBENCH_CLIENTS = (1, 4)
ROUNDS = 2
DETAIL_REQUESTS = 300
DETAIL_ROUNDS = 5

# Run inside Django (manage.py shell) with a web node's environment: time DETAIL_REQUESTS sequential GETs
# of one event's detail view (no HTTP server: the difference between runs is the database path).
_DETAIL_CODE = """
import json, time
from django.test import Client
c = Client(HTTP_HOST={host!r})
assert c.get({path!r}).status_code == 200
began = time.perf_counter()
for _ in range({n}):
    assert c.get({path!r}).status_code == 200
print(json.dumps({{"seconds": time.perf_counter() - began}}))
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
    probes.wait_for(lambda: bool(pg.sync_standbys()) == enabled, f"synchronous_mode={enabled} in effect", 60)


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


def _detail_seconds(cluster: Cluster, path: str, extra: dict[str, str] | None) -> float:
    web = cluster.topo.by_role("web")[0]
    code = _DETAIL_CODE.format(host=web.address, path=path, n=DETAIL_REQUESTS)
    out = run_manage(cluster, ["shell", "--no-imports", "-c", code], extra=extra, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"event detail timing failed: {(out.stderr or out.stdout)[-1000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def direct_environment(cluster: Cluster) -> dict[str, str]:
    """A web node's database variables without the pooler: dbproxy and each DB node directly."""
    proxy, dbs = cluster.topo.one("dbproxy"), cluster.topo.by_role("db")
    return {
        "DB_PRIMARY_HOST": proxy.address,
        "DB_PRIMARY_PORT": str(proxy.port),
        "DB_READ_NODES": ",".join(f"{n.name}={n.endpoint}" for n in dbs),
        "DB_POOLED": "0",
    }


def pooler_overhead(cluster: Cluster, progress: Progress, event_id: int) -> list[str]:
    if not cluster.topo.by_role("pgbouncer"):
        return []
    pooler = cluster.topo.one("pgbouncer")
    path = f"/api/events/{event_id}"
    runs: dict[str, list[float]] = {"through PgBouncer": [], "direct": []}
    with progress.step(f"event detail in Django, through PgBouncer vs direct, {DETAIL_ROUNDS} rounds"):
        for _ in range(DETAIL_ROUNDS):
            runs["through PgBouncer"].append(_detail_seconds(cluster, path, None))
            runs["direct"].append(_detail_seconds(cluster, path, direct_environment(cluster)))
    ms = {label: statistics.median(v) * 1000 / DETAIL_REQUESTS for label, v in runs.items()}
    pooled, direct = ms["through PgBouncer"], ms["direct"]
    example = replica_pool(cluster.topo, cluster.topo.by_role("db")[0])
    return [
        "## Database: the PgBouncer hop on the event detail view",
        "",
        f"`{path}` (exact seat count, read from a replica) {DETAIL_REQUESTS} times in a row by Django's test "
        f"client inside one process with a web node's environment: through {pooler.name} "
        f"({pooler.endpoint}, pools `{cluster.topo.database.name}`, `{example}`...) and with the same "
        f"variables pointing at dbproxy and the DB nodes directly; {DETAIL_ROUNDS} interleaved rounds, medians.",
        "",
        "| path | ms per request | per-round ms |",
        "|---|---|---|",
        *(
            f"| {label} | {ms[label]:.2f} | {' / '.join(f'{s * 1000 / DETAIL_REQUESTS:.2f}' for s in v)} |"
            for label, v in runs.items()
        ),
        "",
        f"- **PgBouncer overhead on the event detail view: {pooled - direct:+.2f} ms per request "
        f"({pooled / direct:.2f}x the direct time).**",
        "",
    ]


def database(cluster: Cluster, progress: Progress) -> list[str]:
    lb = cluster.topo.one("lb")
    with urllib.request.urlopen(f"http://{lb.address}:{lb.port}/api/events", timeout=5) as r:
        event_id = json.load(r)["events"][0]["id"]
    return synchronous_cost(cluster, progress) + pooler_overhead(cluster, progress, event_id)
