"""wrk, the bounded HTTP load generator: one run, its parsed result, interleaved median runs."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass


@dataclass
class WrkResult:
    url: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int

    def row(self, label: str) -> str:
        return f"| {label} | {self.rps:,.0f} | {self.p50_ms:.1f} | {self.p99_ms:.1f} | {self.requests:,} | {self.errors} |"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)$", text.strip())
    if not m:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(url: str, output: str) -> WrkResult:
    """Read requests/s, p50, p99, request and error counts from `wrk --latency` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    return WrkResult(url, rps, p50, p99, errors, requests)


def wrk_argv(
    url: str, seconds: int = 8, connections: int = 16, threads: int = 2, cpus: set[int] | None = None
) -> list[str]:
    """wrk's command line; with ``cpus``, run under `taskset` on those CPUs only."""
    pinned = ["taskset", "-c", ",".join(str(c) for c in sorted(cpus))] if cpus else []
    return [*pinned, "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]


def wrk(
    url: str, seconds: int = 8, connections: int = 16, threads: int = 2, cpus: set[int] | None = None
) -> WrkResult:
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is missing: `make up` installs it (Debian package wrk)")
    out = subprocess.run(
        wrk_argv(url, seconds, connections, threads, cpus),
        capture_output=True, text=True, timeout=seconds + 30, check=True,
    )  # fmt: skip
    return parse_wrk(url, out.stdout)


# --- browse-and-buy mix ----------------------------------------------------------------------------


def median_runs(urls: dict[str, str], rounds: int = 3, seconds: int = 5) -> dict[str, WrkResult]:
    """Run each URL `rounds` times, interleaved (a, b, c, a, b, c, ...), and keep each one's median run.

    Interleaving spreads slow moments of a shared machine over every target instead of one.
    """
    results: dict[str, list[WrkResult]] = {label: [] for label in urls}
    for _ in range(rounds):
        for label, target in urls.items():
            results[label].append(wrk(target, seconds=seconds))
    return {label: sorted(runs, key=lambda r: r.rps)[len(runs) // 2] for label, runs in results.items()}
