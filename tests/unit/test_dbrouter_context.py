"""Routing contexts: fresh per request/task, reset at the end, nesting, end-of-context LSN capture."""

from __future__ import annotations

import asyncio
import threading

import pytest

from dbrouter import context as c


def test_no_context_outside() -> None:
    assert c.current() is None


def test_routing_context_sets_and_resets() -> None:
    with c.routing_context() as ctx:
        assert c.current() is ctx
        assert ctx.min_lsn is None and not ctx.wrote
    assert c.current() is None


def test_reset_even_when_the_body_raises() -> None:
    with pytest.raises(RuntimeError), c.routing_context():
        raise RuntimeError("task failed")
    assert c.current() is None


def test_min_lsn_accepts_text_and_int() -> None:
    with c.routing_context(min_lsn="16/B374D848") as ctx:
        assert ctx.min_lsn == (0x16 << 32) | 0xB374D848
    with c.routing_context(min_lsn=42) as ctx:
        assert ctx.min_lsn == 42


def test_decorator_gives_each_call_a_fresh_context() -> None:
    seen = []

    @c.routing_context(capture_lsn=False)
    def task(write: bool) -> None:
        ctx = c.current()
        seen.append((ctx.wrote, ctx.rotation))
        if write:
            c.mark_write()

    task(True)
    task(False)
    assert [wrote for wrote, _ in seen] == [False, False]
    assert seen[0][1] != seen[1][1]  # each context takes the next round-robin slot
    assert c.current() is None


def test_recursive_use_of_one_decorator_instance() -> None:
    deco = c.routing_context(capture_lsn=False)
    depth = []

    @deco
    def f(n: int) -> None:
        depth.append(c.current())
        if n:
            f(n - 1)

    f(2)
    assert len({id(x) for x in depth}) == 3
    assert c.current() is None


def test_inner_context_inherits_pins_and_hands_writes_back() -> None:
    with c.routing_context(min_lsn=10, capture_lsn=False) as outer:
        outer.wrote = False
        with c.routing_context(min_lsn=5, capture_lsn=False) as inner:
            assert inner.min_lsn == 10
            c.mark_write()
        assert c.current() is outer
        assert outer.wrote
    with c.routing_context(capture_lsn=False) as outer:
        c.mark_write()
        with c.routing_context(capture_lsn=False) as inner:
            assert inner.wrote


def test_contexts_are_isolated_between_threads() -> None:
    seen = []
    with c.routing_context(capture_lsn=False):
        c.mark_write()
        t = threading.Thread(target=lambda: seen.append(c.current()))
        t.start()
        t.join()
    assert seen == [None]


def test_contexts_are_isolated_between_asyncio_tasks() -> None:
    async def one(write: bool) -> bool:
        with c.routing_context(capture_lsn=False) as ctx:
            if write:
                c.mark_write()
            await asyncio.sleep(0)
            return ctx.wrote

    async def main() -> list[bool]:
        return list(await asyncio.gather(one(True), one(False)))

    assert asyncio.run(main()) == [True, False]


def test_finish_captures_lsn_only_after_writes() -> None:
    calls = []

    def capture() -> int:
        calls.append(1)
        return 777

    ctx = c.RoutingContext()
    c.finish(ctx, capture)
    assert ctx.commit_lsn is None and calls == []
    ctx.wrote = True
    c.finish(ctx, capture)
    assert ctx.commit_lsn == 777


def test_finish_survives_a_failing_capture() -> None:
    def capture() -> int:
        raise OSError("primary gone")

    ctx = c.RoutingContext(wrote=True)
    c.finish(ctx, capture)
    assert ctx.commit_lsn is None


def test_served_reads_apply_substitutions_in_order() -> None:
    ctx = c.RoutingContext()
    for alias in ("db2", "default", "db2"):
        ctx.note_read(alias)
    assert ctx.reads == ["db2", "default"]
    ctx.substitutes["db2"] = "db3"
    assert ctx.served_reads() == ["db3", "default"]
    ctx.failed_midway.add("db2")  # db2 served reads, then died under its open connection
    assert ctx.served_reads() == ["db2", "db3", "default"]


def test_require_lsn_only_raises_the_bar() -> None:
    ctx = c.RoutingContext(min_lsn=100)
    ctx.require_lsn(50)
    ctx.require_lsn(None)
    assert ctx.min_lsn == 100
    ctx.require_lsn(200)
    assert ctx.min_lsn == 200
