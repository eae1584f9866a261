"""Pure parts of `make bench`: reading wrk's output and the replica share from router counters."""

from __future__ import annotations

import pytest

from deploy.commands.bench import Mix
from deploy.commands.wrk import parse_wrk

WRK = """Running 8s test @ http://127.0.0.1:8080/healthz
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.10ms    2.01ms  40.12ms   90.00%
    Req/Sec     1.60k   100.00     1.80k    70.00%
  Latency Distribution
     50%    4.80ms
     75%    5.90ms
     90%    7.10ms
     99%   12.50ms
  25600 requests in 8.00s, 5.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   3200.25
Transfer/sec:    640.00KB
"""


def test_parse_wrk_reads_rate_latency_and_errors() -> None:
    r = parse_wrk("u", WRK)
    assert r.rps == pytest.approx(3200.25)
    assert r.p50_ms == pytest.approx(4.8)
    assert r.p99_ms == pytest.approx(12.5)
    assert r.requests == 25600
    assert r.errors == 7


def test_parse_wrk_converts_units() -> None:
    text = WRK.replace("4.80ms", "950.00us").replace("12.50ms", "1.20s")
    r = parse_wrk("u", text)
    assert r.p50_ms == pytest.approx(0.95)
    assert r.p99_ms == pytest.approx(1200.0)


def test_mix_counts_only_database_nodes_as_replica_reads() -> None:
    mix = Mix()
    mix.reads.update({"db2": 60, "db3": 30, "default": 10})
    assert mix.reads_by_replicas({"db1", "db2", "db3"}) == 90


def test_cpu_per_request_in_microseconds() -> None:
    from deploy.commands.bench_edge import per_request_us

    assert per_request_us(0.5, 10_000) == pytest.approx(50.0)
    assert per_request_us(0.0, 0) == 0.0


def test_cpu_seconds_of_this_process_grows() -> None:
    import os

    from deploy.commands.bench_edge import cpu_seconds

    before = cpu_seconds(os.getpid())
    sum(i * i for i in range(2_000_000))
    assert cpu_seconds(os.getpid()) >= before
