"""The routing context of one request or background task, kept in a ContextVar.

A context remembers: the LSN the caller must see (from its cookie or the task's argument), whether it wrote
(then every later read goes to the primary), the replica chosen for its reads (kept for its whole life), and
which aliases served its reads. Contexts nest: an inner context starts with the outer one's pins and hands
its writes back, so a task run inline inside a request cannot read past the request's own writes.
When a context ends, the primary's WAL position is captured after writes (capture_primary_lsn) and
connections opened to a substitute server are closed (close_substituted).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from contextlib import ContextDecorator
from dataclasses import dataclass, field
from typing import Any

from django.db import connections

from . import probe, runtime
from .lsn import parse_lsn

logger = logging.getLogger("dbrouter")


@dataclass
class RoutingContext:
    min_lsn: int | None = None
    wrote: bool = False
    read_alias: str | None = None
    read_reason: str | None = None
    rotation: int = 0
    reads: list[str] = field(default_factory=list)
    substitutes: dict[str, str] = field(default_factory=dict)
    failed_midway: set[str] = field(default_factory=set)
    commit_lsn: int | None = None

    def note_read(self, alias: str) -> None:
        if alias not in self.reads:
            self.reads.append(alias)

    def served_reads(self) -> list[str]:
        """Aliases that served reads, with substitutions applied (db2 refused connections -> db3); a server
        that died under an open connection is listed too, since it served the reads before it died."""
        out: list[str] = []
        for alias in self.reads:
            served = [alias] if alias in self.failed_midway or alias not in self.substitutes else []
            if alias in self.substitutes:
                served.append(self.substitutes[alias])
            out.extend(a for a in served if a not in out)
        return out

    def require_lsn(self, lsn: int | None) -> None:
        if lsn is not None and (self.min_lsn is None or lsn > self.min_lsn):
            self.min_lsn = lsn


_CURRENT: contextvars.ContextVar[RoutingContext | None] = contextvars.ContextVar(
    "dbrouter_context", default=None
)


def current() -> RoutingContext | None:
    return _CURRENT.get()


def mark_write() -> None:
    """Pin the current context to the primary (call after raw-SQL writes that bypass the router)."""
    ctx = _CURRENT.get()
    if ctx is not None:
        ctx.wrote = True


def enter(ctx: RoutingContext) -> contextvars.Token[RoutingContext | None]:
    return _CURRENT.set(ctx)


def leave(token: contextvars.Token[RoutingContext | None]) -> None:
    _CURRENT.reset(token)


def new_context(min_lsn: int | None = None, rotation: int = 0) -> RoutingContext:
    """A fresh context that inherits the pins of the enclosing one, if any."""
    ctx = RoutingContext(min_lsn=min_lsn, rotation=rotation)
    outer = _CURRENT.get()
    if outer is not None:
        ctx.wrote = outer.wrote
        ctx.require_lsn(outer.min_lsn)
    return ctx


def finish(ctx: RoutingContext, capture_lsn: Callable[[], int | None] | None) -> None:
    """End-of-context bookkeeping: after writes, remember the primary's WAL position (read-your-writes)."""
    if ctx.wrote and capture_lsn is not None:
        try:
            ctx.commit_lsn = capture_lsn()
        except Exception:  # the response/task must not fail because the LSN could not be read
            logger.warning("dbrouter: could not read the primary's WAL LSN after a write", exc_info=True)


def capture_primary_lsn() -> int | None:
    """After a context's writes: the primary's WAL position, read on Django's own primary connection, and
    noted by the health registry (an extra lag signal). None when a transaction is still open."""
    lsn = probe.committed_primary_lsn(runtime.get_config().primary_alias)
    runtime.get_registry().note_primary_lsn(lsn)
    return lsn


def close_substituted(ctx: RoutingContext) -> None:
    """Close connections that were opened to a substitute server, so the alias reconnects to its own node
    next time (matters with persistent connections and in long-running task workers)."""
    for alias in ctx.substitutes:
        try:
            conn = connections[alias]
            if getattr(conn, "dbrouter_target", alias) != alias and not conn.in_atomic_block:
                conn.close()
        except Exception:
            pass


class routing_context(ContextDecorator):
    """Context manager / decorator giving a background task what RoutingMiddleware gives a request.

    with routing_context(min_lsn="16/B374D848") as ctx:   # LSN handed over by the enqueuing request
        ...
    ctx.commit_lsn  # the primary's LSN after the task's writes (None if it did not write)

    @routing_context()
    def my_task(...): ...
    """

    def __init__(self, min_lsn: str | int | None = None, *, capture_lsn: bool = True) -> None:
        self._min_lsn = parse_lsn(min_lsn) if isinstance(min_lsn, str) else min_lsn
        self._capture = capture_lsn
        self._stack: list[tuple[RoutingContext, contextvars.Token[RoutingContext | None]]] = []

    def __enter__(self) -> RoutingContext:
        ctx = new_context(self._min_lsn, runtime.next_rotation())
        self._stack.append((ctx, enter(ctx)))
        return ctx

    def __exit__(self, *exc: Any) -> None:
        ctx, token = self._stack.pop()
        try:
            finish(ctx, capture_primary_lsn if self._capture else None)
            close_substituted(ctx)
        finally:
            leave(token)
            outer = _CURRENT.get()
            if outer is not None and ctx.wrote:  # hand the task's writes back to the enclosing request
                outer.wrote = True
                outer.require_lsn(ctx.commit_lsn)
