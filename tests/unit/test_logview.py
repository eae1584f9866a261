"""`make logs`: each program's log format read for its time and severity, merged in time order, cut."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from deploy.commands import logview

PATRONI = "2026-12-04 17:09:20,591 INFO: no action. I am (db1), the leader with the lock"
PGBOUNCER = "2026-12-04 17:08:41.229 UTC [3544] LOG stats: 91 xacts/s, 108 queries/s"
POSTGRES_ERR = "2026-12-04 17:09:21.001 UTC [77] FATAL:  the database system is shutting down"
ETCD = '{"level":"warn","ts":"2026-12-04T17:07:42.892Z","msg":"apply request took too long"}'
DJANGO = (
    '{"ts": "2026-12-04T17:09:28.442+00:00", "level": "INFO", "logger": "tiers.request", "msg": "GET / 200"}'
)
HAPROXY = (
    '127.0.0.1:60902 [04/Dec/2026:17:09:28.429] site web/web1 0/0/1/11/12 200 7234 ---- "GET / HTTP/1.1"'
)
NGINX = "2026/12/04 17:08:44 [error] 12#12: *1 upstream timed out"
GLOG = "W1204 17:09:22.123456 volume.go:88 volume 3 is read only"


def at(h: int, m: int, s: int, micro: int = 0) -> datetime:
    return datetime(2026, 12, 4, h, m, s, micro, tzinfo=UTC)


def test_each_format_gives_its_time_and_level() -> None:
    cases = [
        (PATRONI, at(17, 9, 20, 591000), "info"),
        (PGBOUNCER, at(17, 8, 41, 229000), "info"),
        (POSTGRES_ERR, at(17, 9, 21, 1000), "error"),
        (ETCD, at(17, 7, 42, 892000), "warning"),
        (DJANGO, at(17, 9, 28, 442000), "info"),
        (HAPROXY, at(17, 9, 28, 429000), "info"),
        (NGINX, at(17, 8, 44), "error"),
        (GLOG, at(17, 9, 22, 123456), "warning"),
    ]
    for text, when, severity in cases:
        assert logview.stamp(text, 2026) == when, text
        assert logview.level(text) == severity, text


def test_a_line_without_a_time_stays_with_its_message() -> None:
    lines = logview.parse("web1", ['{"ts": "2026-12-04T17:00:00+00:00", "level": "ERROR", "msg": "boom"}',
                                   "Traceback (most recent call last):", "  File x", "", "orphan"], 2026)  # fmt: skip
    assert [ln.when for ln in lines] == [at(17, 0, 0)] * 4
    assert {ln.level for ln in lines} == {"error"}
    assert logview.parse("web1", ["no time here", PATRONI], 2026)[0].text == PATRONI  # nothing to attach to


def test_nodes_merge_in_time_order_filtered_and_cut() -> None:
    per_node = {
        "db1": logview.parse("db1", [PATRONI, POSTGRES_ERR], 2026),
        "lb": logview.parse("lb", [HAPROXY], 2026),
        "etcd": logview.parse("etcd", [ETCD], 2026),
    }
    everything = logview.merged(per_node, 10)
    assert [ln.node for ln in everything] == ["etcd", "db1", "db1", "lb"]
    assert [ln.node for ln in logview.merged(per_node, 2)] == ["db1", "lb"]  # the newest two
    assert [ln.text for ln in logview.merged(per_node, 10, "warning")] == [ETCD, POSTGRES_ERR]
    assert logview.cut("x" * 50, 10) == "x" * 10 + " ... (+40 chars)"
    shown = logview.render(logview.merged(per_node, 10, "error"), width=20).splitlines()
    assert shown == ["2026-12-04 17:09:21.001 db1 ERRO 2026-12-04 17:09:21. ... (+57 chars)"]


def test_tail_reads_the_end_of_a_large_file(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_text("".join(f"line {i}\n" for i in range(100_000)))
    assert logview.tail_lines(log, 3, chunk=4096) == ["line 99997", "line 99998", "line 99999"]


def test_a_level_word_of_another_program_reads_as_one_of_ours() -> None:
    for word, expected in (("notice", "info"), ("trace", "debug"), ("dpanic", "error"), ("verbose", "info")):
        line = f'{{"level": "{word}", "ts": "2026-12-04T17:00:00Z", "msg": "x"}}'
        assert logview.level(line) == expected
        assert logview.merged({"n": logview.parse("n", [line], 2026)}, 5, "debug")  # no unknown level
