"""Pure parts of `make bench`: reading wrk's output and the replica share from router counters."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.commands.bench import Mix, replace_sections
from deploy.commands.bench_db import _tps, direct_targets, pgbench_argv, simple_update_args
from deploy.commands.bench_layer import own_settings, server_ini
from deploy.commands.bench_onsale import pct
from deploy.commands.context import Cluster
from deploy.commands.postgres import edit_config_argv, synchronous_settings
from deploy.commands.wrk import parse_wrk, wrk_argv
from tests.unit.fixtures import PATHS, fake_release, small

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


def test_one_section_is_replaced_and_the_others_kept() -> None:
    block = "_Last run: x_\n\n## Data\n\nold data\n\n## Edge\n\nold edge\n![c](c.png)"
    out = replace_sections(block, ["## Edge", "", "new edge", ""])
    assert out == "_Last run: x_\n\n## Data\n\nold data\n\n## Edge\n\nnew edge\n"
    added = replace_sections(block, ["## Onsale", "", "figures"])
    assert added.endswith("old edge\n![c](c.png)\n\n## Onsale\n\nfigures\n")


def test_percentiles_are_nearest_rank_in_ms() -> None:
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert pct(values, 0.5) == pytest.approx(51)
    assert pct(values, 0.99) == pytest.approx(100)
    assert pct([], 0.5) == 0


PGBENCH = """pgbench (15.14 (Debian 15.14-0+deb12u1))
transaction type: <builtin: simple update>
number of clients: 4
duration: 4 s
number of transactions actually processed: 2904
latency average = 5.498 ms
initial connection time = 8.530 ms
tps = 727.590118 (without initial connection time)
"""


def test_pgbench_tps_is_read_and_its_argv_runs_on_the_leaders_socket() -> None:
    assert _tps(PGBENCH) == pytest.approx(727.590118)
    with pytest.raises(RuntimeError, match="no tps"):
        _tps("connection refused")
    topo = small()
    argv = pgbench_argv(Cluster(topo, PATHS), topo.node("db1"), simple_update_args(4))
    assert argv == [
        "runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pgbench", "-h", "/state/run/db1",
        "-p", "5432", "-U", "postgres", "-n", "-b", "simple-update", "-c", "4", "-j", "2", "-T", "4", "tiers_bench",
    ]  # fmt: skip


def test_direct_targets_bypass_the_pooler() -> None:
    assert direct_targets(Cluster(small(), PATHS)) == {
        "default": ("127.9.2.10", 5432, "tiers"),
        "db1": ("127.9.2.1", 5432, "tiers"),
        "db2": ("127.9.2.2", 5432, "tiers"),
    }


def test_synchronous_settings_go_to_the_dcs_with_patronictl() -> None:
    settings = synchronous_settings(small(), enabled=False)
    assert settings == {
        "synchronous_mode": "false",
        "synchronous_mode_strict": "false",
        "synchronous_node_count": "1",
    }
    assert edit_config_argv(PATHS, settings) == [
        "/repo/.venv/bin/patronictl", "-c", "/state/conf/patronictl.yml", "edit-config", "--force", "--quiet",
        "-s", "synchronous_mode=false", "-s", "synchronous_mode_strict=false", "-s", "synchronous_node_count=1",
    ]  # fmt: skip


def test_wrk_argv_runs_under_taskset_only_when_pinned() -> None:
    assert wrk_argv("http://h/x", 5) == ["wrk", "-t2", "-c16", "-d5s", "--latency", "http://h/x"]
    assert wrk_argv("http://h/x", 5, cpus={3, 1}) == [
        "taskset", "-c", "1,3", "wrk", "-t2", "-c16", "-d5s", "--latency", "http://h/x",
    ]  # fmt: skip


def test_split_cpus_gives_the_node_one_cpu_and_the_lb_another() -> None:
    from deploy.commands.bench_edge import split_cpus

    assert split_cpus({0, 1}) == ({0}, {1})
    assert split_cpus({5, 2, 7}) == ({2}, {5})
    assert split_cpus({0}) is None


def test_pinned_moves_a_program_tree_and_puts_it_back() -> None:
    """A real parent and grandchild: both pinned to one CPU inside the block, back everywhere after."""
    import os
    import subprocess
    import time

    from deploy.clients.procs import tree
    from deploy.commands.bench_edge import pinned

    everywhere = os.sched_getaffinity(0)
    if len(everywhere) < 2:
        pytest.skip("needs two CPUs")
    one = {max(everywhere)}
    parent = subprocess.Popen(["sh", "-c", "sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 5
        while len(tree(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        family = tree(parent.pid)
        assert family[0] == parent.pid and len(family) == 2
        with pinned({parent.pid: one}, everywhere):
            assert [os.sched_getaffinity(p) for p in family] == [one, one]
        assert [os.sched_getaffinity(p) for p in family] == [everywhere, everywhere]
    finally:
        for pid in reversed(tree(parent.pid)):
            os.kill(pid, 9)
        parent.wait(timeout=5)


def test_a_run_with_a_worker_recycle_in_it_is_repeated_and_counted() -> None:
    from deploy.commands.bench_edge import ATTEMPTS, Recycles

    counts = iter([0, 1, 1, 1])  # respawn count read before and after each run: the first run saw one
    recycles = Recycles(lambda: next(counts))
    runs = iter(["spoilt", "clean"])
    assert recycles.clean_run(lambda: next(runs)) == "clean"  # type: ignore[arg-type,return-value]
    assert recycles.repeated == 1
    always = Recycles(iter(range(100)).__next__)  # every run sees a respawn: gives up after ATTEMPTS
    calls: list[int] = []
    always.clean_run(lambda: calls.append(1))  # type: ignore[arg-type,return-value]
    assert len(calls) == ATTEMPTS and always.repeated == ATTEMPTS - 1


def test_respawns_sums_the_workers_of_a_uwsgi_stats_socket(tmp_path) -> None:
    """A real unix socket that speaks first, as uWSGI's stats socket does."""
    import json
    import socket
    import threading

    from deploy.commands.bench_edge import respawns

    path = tmp_path / "stats"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        conn.sendall(json.dumps({"workers": [{"respawn_count": 3}, {"respawn_count": 1}]}).encode())
        conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert respawns(path) == 4
    finally:
        thread.join(timeout=5)
        server.close()


def test_the_layer_bench_compares_with_the_projects_own_settings_on_the_same_database() -> None:
    env = {"DB_NAME": "tiers", "DB_USER": "tiers", "DB_PASSWORD": "pw", "DB_PRIMARY_HOST": "127.9.2.11",
           "DB_PRIMARY_PORT": "6432", "DB_POOLED": "1"}  # fmt: skip
    text = own_settings("shop.settings", env)
    assert text.startswith("from shop.settings import *")
    namespace: dict = {}
    exec(compile(text.replace("from shop.settings import *  # noqa: F403\n", ""), "own", "exec"), namespace)
    db = namespace["DATABASES"]["default"]
    assert (db["HOST"], db["PORT"], db["DISABLE_SERVER_SIDE_CURSORS"]) == ("127.9.2.11", "6432", True)
    assert namespace["DEBUG"] is False and namespace["ALLOWED_HOSTS"] == ["*"]
    release = fake_release()
    ini = server_ini(release, "127.9.1.1", 8091, Path("/tmp/x"), {"A": "1"}).splitlines()
    assert f"module = {release.spec.wsgi}" in ini and "http-socket = 127.9.1.1:8091" in ini
    assert [line for line in ini if line.startswith(("processes", "threads"))] == [
        "processes = 1",
        "threads = 1",
    ]
    assert "env = A=1" in ini
