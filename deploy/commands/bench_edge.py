"""Edge section of `make bench`: what the load balancer costs, measured against the same single node.

1. LB overhead: `/healthz` on web1 directly vs through HAProxy with every other web node in maint
   (same node, same uWSGI worker count); the ratio through-LB / direct is the figure of merit.
2. HAProxy CPU per request: the worker's utime+stime (/proc) over a through-LB run, divided by the
   requests wrk completed; the same for the LB's rsyslog (the access log's cost).
3. HTTPS vs HTTP through the LB (keep-alive clients: the handshake is paid once per connection).

Runs are interleaved (direct, HTTP, HTTPS, direct, ...) for 3 rounds of 5 s, median kept. The
charts go to docs/bench-edge.png. Bounded in time; loopback addresses only.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path

from ..clients.haproxy import RuntimeAPI
from ..render.haproxy import LB_BACKEND
from .context import Cluster
from .progress import Progress
from .wrk import WrkResult, wrk

CHART = "bench-edge.png"
ROUNDS = 3
SECONDS = 5
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (its threads included) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def haproxy_worker_pid(api: RuntimeAPI) -> int:
    """The serving process: `show info` answers from the worker."""
    for line in api.command("show info").splitlines():
        if line.startswith("Pid:"):
            return int(line.split(":", 1)[1])
    raise RuntimeError("HAProxy's `show info` has no Pid line")


def syslog_pid(worker: int) -> int | None:
    """The LB's rsyslog: the child of HAProxy's master (the worker's parent) that runs rsyslogd."""
    master = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[1]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        if name == "rsyslogd" and rest.split()[1] == master:
            return int(proc.name)
    return None


@dataclass
class Run:
    result: WrkResult
    haproxy_us: float = 0.0  # HAProxy CPU microseconds per request
    syslog_us: float = 0.0  # its rsyslog's


def per_request_us(cpu_s: float, requests: int) -> float:
    return cpu_s * 1e6 / max(1, requests)


def measured(url: str, pids: dict[str, int]) -> Run:
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = wrk(url, seconds=SECONDS)
    spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    return Run(
        result,
        per_request_us(spent.get("haproxy", 0.0), result.requests),
        per_request_us(spent.get("syslog", 0.0), result.requests),
    )


def median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.result.rps)[len(runs) // 2]


def write_chart(path: Path, rps: dict[str, float], cpu: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    bars = left.bar(list(rps), list(rps.values()), color=["#888888", "#3a7ca5", "#2f6690"])
    left.bar_label(bars, fmt="%.0f")
    left.set_ylabel("requests/s (median of 3 runs)")
    left.set_title("One web node: direct vs through HAProxy")
    bars = right.bar(list(cpu), list(cpu.values()), color=["#3a7ca5", "#2f6690", "#a5a5a5"])
    right.bar_label(bars, fmt="%.0f")
    right.set_ylabel("CPU microseconds per request")
    right.set_title("Cost of the LB path")
    fig.suptitle("`/healthz`, wrk -t2 -c16, 5 s runs, same 2 cores as the cluster", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def edge(cluster: Cluster, progress: Progress) -> list[str]:
    docs = cluster.paths.repo / "docs"
    topo = cluster.topo
    lb, web = topo.one("lb"), topo.by_role("web")[0]
    others = [n.name for n in topo.by_role("web")[1:]]
    api = RuntimeAPI(cluster.paths.haproxy_admin_sock)
    urls = {
        "direct": f"http://{web.address}:{web.port}/healthz",
        "HAProxy, HTTP": f"http://{lb.address}:{lb.port}/healthz",
        "HAProxy, HTTPS": f"https://{lb.address}:{lb.opt('https_port')}/healthz",
    }
    runs: dict[str, list[Run]] = {label: [] for label in urls}
    pids = {"haproxy": haproxy_worker_pid(api)}
    syslog = syslog_pid(pids["haproxy"])
    if syslog is not None:
        pids["syslog"] = syslog
    with progress.step(f"wrk: {web.name} direct vs through HAProxy (others in maint), {ROUNDS} rounds"):
        for name in others:
            api.set_state(LB_BACKEND, name, "maint")
        try:
            for _ in range(ROUNDS):
                for label, url in urls.items():
                    runs[label].append(measured(url, pids if label != "direct" else {}))
        finally:
            for name in others:
                api.set_state(LB_BACKEND, name, "ready")
    best = {label: median(r) for label, r in runs.items()}
    direct, plain, tls = best["direct"], best["HAProxy, HTTP"], best["HAProxy, HTTPS"]
    ratios = [p.result.rps / d.result.rps for p, d in zip(runs["HAProxy, HTTP"], runs["direct"], strict=True)]
    haproxy_us = statistics.median(r.haproxy_us for r in runs["HAProxy, HTTP"])
    haproxy_tls_us = statistics.median(r.haproxy_us for r in runs["HAProxy, HTTPS"])
    syslog_us = statistics.median(r.syslog_us for r in runs["HAProxy, HTTP"])
    write_chart(
        docs / CHART,
        {label: r.result.rps for label, r in best.items()},
        {"HAProxy (HTTP)": haproxy_us, "HAProxy (HTTPS)": haproxy_tls_us, "rsyslog (log line)": syslog_us},
    )
    return [
        "## Edge: the load balancer's cost (one web node, same worker count)",
        "",
        f"`wrk -t2 -c16 -d{SECONDS}s --latency` on `/healthz` of {web.name} ({web.opt('processes')} uWSGI "
        f"worker(s)): directly, and through HAProxy with {', '.join(others) or 'no other node'} in maint; "
        f"{ROUNDS} interleaved rounds, median run shown. CPU from /proc of HAProxy's worker and its rsyslog.",
        "",
        "| path | req/s | p50 ms | p99 ms | requests | errors |",
        "|---|---|---|---|---|---|",
        *(r.result.row(label) for label, r in best.items()),
        "",
        f"- **Through HAProxy / direct: {plain.result.rps / direct.result.rps:.2f}** (median runs; per-round "
        f"ratios {', '.join(f'{x:.2f}' for x in ratios)}) (target >= 0.95).",
        f"- **HAProxy CPU per request: {haproxy_us:.0f} us over HTTP, {haproxy_tls_us:.0f} us over HTTPS**; "
        f"its rsyslog {syslog_us:.0f} us per access-log line.",
        f"- **HTTPS / HTTP through the LB: {tls.result.rps / plain.result.rps:.2f}** (keep-alive clients).",
        "",
        f"![LB overhead]({CHART})",
        "",
    ]
