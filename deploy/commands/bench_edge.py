"""Edge section of `make bench`: what the load balancer costs, measured against the same single node.

1. LB overhead: `/healthz` on web1 directly vs through HAProxy with every other web node in maint
   (same node, same uWSGI worker count); the ratio through-LB / direct is the figure of merit. Twice:
   - on shared cores, as `make up` runs everything: HAProxy's CPU is taken from the web node's;
   - with the LB on a core of its own, as in production where the LB is its own host: the web node's
     processes are pinned to one CPU, HAProxy, its rsyslog and wrk to another (direct runs pinned the
     same way), so the ratio shows what the LB path costs the node, not what it takes from its cores.
2. HAProxy CPU per request: the worker's utime+stime (/proc) over a through-LB run, divided by the
   requests wrk completed; the same for the LB's rsyslog (the access log's cost).
3. HTTPS vs HTTP through the LB (keep-alive clients: the handshake is paid once per connection).

Runs are interleaved (direct, HTTP, HTTPS, pinned direct, pinned HTTP, direct, ...) for 5 rounds of 5 s,
median kept; the CPU affinities are restored after every pinned pair. A run during which the node's
worker was recycled (uWSGI's max-requests) is repeated: the respawn pauses a one-process node ~1 s. The
charts go to docs/bench-edge.png. Bounded in time; loopback addresses only.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..clients.haproxy import RuntimeAPI
from ..clients.procs import child_map, pin, stat, tree
from ..clients.unixsock import read_all
from ..render.haproxy import LB_BACKEND
from .context import Cluster
from .progress import Progress
from .wrk import WrkResult, wrk

CHART = "bench-edge.png"
ROUNDS = 5
# A run with a worker recycle in it is repeated, this many tries in all.
ATTEMPTS = 3
SECONDS = 5
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (its threads included) from /proc."""
    fields = stat(pid)[1]
    return (int(fields[11]) + int(fields[12])) / TICKS


def haproxy_worker_pid(api: RuntimeAPI) -> int:
    """The serving process: `show info` answers from the worker."""
    for line in api.command("show info").splitlines():
        if line.startswith("Pid:"):
            return int(line.split(":", 1)[1])
    raise RuntimeError("HAProxy's `show info` has no Pid line")


def syslog_pid(worker: int) -> int | None:
    """The LB's rsyslog: the child of HAProxy's master (the worker's parent) that runs rsyslogd."""
    master = int(stat(worker)[1][1])
    for pid in child_map().get(master, []):
        with contextlib.suppress(OSError):
            if stat(pid)[0] == "rsyslogd":
                return pid
    return None


@dataclass
class Run:
    result: WrkResult
    haproxy_us: float = 0.0  # HAProxy CPU microseconds per request
    syslog_us: float = 0.0  # its rsyslog's


def per_request_us(cpu_s: float, requests: int) -> float:
    return cpu_s * 1e6 / max(1, requests)


def respawns(stats_sock: Path) -> int:
    """How many times the node's uWSGI workers have been respawned (its stats socket)."""
    stats = json.loads(read_all(str(stats_sock), timeout=5))
    return sum(int(w.get("respawn_count", 0)) for w in stats.get("workers", []))


@dataclass
class Recycles:
    """Runs the node's uWSGI spent part of recycling a worker (max-requests): repeated, and counted."""

    respawns: Callable[[], int]  # the node's respawn count so far
    repeated: int = 0

    def clean_run(self, run: Callable[[], Run]) -> Run:
        """``run()`` until one has no worker respawn in it (at most ATTEMPTS tries): a one-process node
        stops for up to a second while the master respawns its worker, which is not the LB's cost."""
        for _ in range(ATTEMPTS - 1):
            before = self.respawns()
            result = run()
            if self.respawns() == before:
                return result
            self.repeated += 1
        return run()


def measured(url: str, pids: dict[str, int], cpus: set[int] | None = None) -> Run:
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = wrk(url, seconds=SECONDS, cpus=cpus)
    spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    return Run(
        result,
        per_request_us(spent.get("haproxy", 0.0), result.requests),
        per_request_us(spent.get("syslog", 0.0), result.requests),
    )


def median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.result.rps)[len(runs) // 2]


def split_cpus(available: set[int]) -> tuple[set[int], set[int]] | None:
    """(the web node's CPUs, the LB's and wrk's): the lowest CPU for the node, the next for the rest;
    None with fewer than two CPUs (no LB-on-its-own-core runs then)."""
    ordered = sorted(available)
    return ({ordered[0]}, {ordered[1]}) if len(ordered) >= 2 else None


@contextlib.contextmanager
def pinned(placement: dict[int, set[int]], restore: set[int]) -> Iterator[None]:
    """Each program (by its supervised pid) and its descendants on its CPUs; back on ``restore`` after."""
    children = child_map()
    try:
        for root, cpus in placement.items():
            pin(tree(root, children), cpus)
        yield
    finally:
        children = child_map()  # workers respawned meanwhile were forked pinned: they go back too
        for root in placement:
            pin(tree(root, children), restore)


def ratios(through: list[Run], direct: list[Run]) -> list[float]:
    return [t.result.rps / d.result.rps for t, d in zip(through, direct, strict=True)]


def write_chart(path: Path, rps: dict[str, float], cpu: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    colours = ["#888888", "#3a7ca5", "#2f6690", "#bbbbbb", "#81c3d7"][: len(rps)]
    bars = left.bar([label.replace(", ", "\n") for label in rps], list(rps.values()), color=colours)
    left.bar_label(bars, fmt="%.0f")
    left.set_ylabel(f"requests/s (median of {ROUNDS} runs)")
    left.set_title("One web node: direct vs through HAProxy")
    left.tick_params(axis="x", labelsize=8)
    bars = right.bar([label.replace(" (", "\n(") for label in cpu], list(cpu.values()), color="#3a7ca5")
    right.bar_label(bars, fmt="%.0f")
    right.set_ylabel("CPU microseconds per request")
    right.set_title("Cost of the LB path")
    right.tick_params(axis="x", labelsize=8)
    fig.suptitle(
        f"`/healthz`, wrk -t2 -c16, {SECONDS} s runs; 'own core': web node on one CPU, LB + wrk on the other",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def edge(cluster: Cluster, progress: Progress) -> list[str]:
    docs = cluster.paths.repo / "docs"
    topo = cluster.topo
    lb, web = topo.one("lb"), topo.by_role("web")[0]
    others = [n.name for n in topo.by_role("web")[1:]]
    api = RuntimeAPI(cluster.paths.haproxy_admin_sock)
    direct_url = f"http://{web.address}:{web.port}/healthz"
    plain_url = f"http://{lb.address}:{lb.port}/healthz"
    urls = {
        "direct": direct_url,
        "HAProxy, HTTP": plain_url,
        "HAProxy, HTTPS": f"https://{lb.address}:{lb.opt('https_port')}/healthz",
    }
    everywhere = os.sched_getaffinity(0)
    split = split_cpus(everywhere)
    own = {"direct, own core": direct_url, "HAProxy, own core": plain_url} if split else {}
    if split:  # the programs' supervised pids: uWSGI's and HAProxy's masters outlive worker recycles
        node_cpus, lb_cpus = split
        sup = cluster.supervisor
        placement = {sup.info(web.name)["pid"]: node_cpus, sup.info(lb.name)["pid"]: lb_cpus}
    runs: dict[str, list[Run]] = {label: [] for label in [*urls, *own]}
    pids = {"haproxy": haproxy_worker_pid(api)}
    syslog = syslog_pid(pids["haproxy"])
    if syslog is not None:
        pids["syslog"] = syslog
    stats_sock = cluster.paths.uwsgi_stats_sock(web.name)
    recycles = Recycles(lambda: respawns(stats_sock))
    with progress.step(f"wrk: {web.name} direct vs through HAProxy (others in maint), {ROUNDS} rounds"):
        for name in others:
            api.set_state(LB_BACKEND, name, "maint")
        try:
            for _ in range(ROUNDS):
                for label, url in urls.items():
                    watched = pids if label.startswith("HAProxy") else {}
                    runs[label].append(recycles.clean_run(lambda u=url, w=watched: measured(u, w)))
                if split:
                    with pinned(placement, everywhere):
                        for label, url in own.items():
                            watched = pids if label.startswith("HAProxy") else {}
                            runs[label].append(
                                recycles.clean_run(lambda u=url, w=watched, c=lb_cpus: measured(u, w, c))
                            )
        finally:
            for name in others:
                api.set_state(LB_BACKEND, name, "ready")
    best = {label: median(r) for label, r in runs.items()}
    direct, plain, tls = best["direct"], best["HAProxy, HTTP"], best["HAProxy, HTTPS"]
    haproxy_us = statistics.median(r.haproxy_us for r in runs["HAProxy, HTTP"])
    haproxy_tls_us = statistics.median(r.haproxy_us for r in runs["HAProxy, HTTPS"])
    syslog_us = statistics.median(r.syslog_us for r in runs["HAProxy, HTTP"])
    cpu = {"HAProxy (HTTP)": haproxy_us, "HAProxy (HTTPS)": haproxy_tls_us, "rsyslog (log line)": syslog_us}
    shared = ratios(runs["HAProxy, HTTP"], runs["direct"])
    lines = [
        "## Edge: the load balancer's cost (one web node, same worker count)",
        "",
        f"`wrk -t2 -c16 -d{SECONDS}s --latency` on `/healthz` of {web.name} ({web.opt('processes')} uWSGI "
        f"worker(s)): directly, and through HAProxy with {', '.join(others) or 'no other node'} in maint; "
        f"{ROUNDS} interleaved rounds, median run shown. CPU from /proc of HAProxy's worker and its rsyslog. "
        f"Runs during which {web.name}'s worker was recycled (`max-requests`: the node pauses up to 1 s "
        f"while uWSGI's master respawns it) were repeated: {recycles.repeated} this time. "
        '"Own core": the web node\'s processes pinned to one CPU, HAProxy, its rsyslog and wrk to another '
        "(production's shape: the LB is a host of its own); the other rows share every core.",
        "",
        "| path | req/s | p50 ms | p99 ms | requests | errors |",
        "|---|---|---|---|---|---|",
        *(r.result.row(label) for label, r in best.items()),
        "",
    ]
    if split:
        pinned_ratios = ratios(runs["HAProxy, own core"], runs["direct, own core"])
        own_ratio = best["HAProxy, own core"].result.rps / best["direct, own core"].result.rps
        own_us = statistics.median(r.haproxy_us for r in runs["HAProxy, own core"])
        cpu["HAProxy (HTTP, own core)"] = own_us
        lines.append(
            f"- **Through HAProxy / direct, LB on its own core: {own_ratio:.2f}** (median runs; per-round "
            f"ratios {', '.join(f'{x:.2f}' for x in pinned_ratios)}) (target >= 0.95); HAProxy CPU "
            f"{own_us:.0f} us per request there."
        )
    else:
        lines.append("- Through HAProxy / direct with the LB on its own core: not measured (one CPU only).")
    lines += [
        f"- **Through HAProxy / direct, all on shared cores: {plain.result.rps / direct.result.rps:.2f}** "
        f"(per-round ratios {', '.join(f'{x:.2f}' for x in shared)}): HAProxy's CPU comes out of the web "
        "node's.",
        f"- **HAProxy CPU per request: {haproxy_us:.0f} us over HTTP, {haproxy_tls_us:.0f} us over HTTPS**; "
        f"its rsyslog {syslog_us:.0f} us per access-log line.",
        f"- **HTTPS / HTTP through the LB: {tls.result.rps / plain.result.rps:.2f}** (keep-alive clients).",
        "",
        f"![LB overhead]({CHART})",
        "",
    ]
    write_chart(docs / CHART, {label: r.result.rps for label, r in best.items()}, cpu)
    return lines
