"""DATABASE_ROUTERS = ["dbrouter.router.ReplicaRouter"]: picks an alias (I/O only via cached probes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connections

from . import decision, metrics, runtime
from .conf import RouterConfig
from .context import RoutingContext, current
from .health import HealthRegistry

# Pins that hold for one read only: they must not become the context's kept choice.
_TRANSIENT = frozenset(
    {decision.PINNED_WRITE, decision.PINNED_TXN, decision.PINNED_MODEL, decision.NO_CONTEXT}
)


def _primary_in_atomic(alias: str) -> bool:
    return connections[alias].in_atomic_block


def model_label(model: Any) -> str:
    meta = getattr(model, "_meta", None)
    return meta.label_lower if meta is not None else ""


class ReplicaRouter:
    """Writes and migrations to the primary; reads to one healthy, caught-up replica per context."""

    def __init__(
        self,
        config: Callable[[], RouterConfig] | None = None,
        registry: Callable[[], HealthRegistry] | None = None,
        in_atomic: Callable[[str], bool] | None = None,
        context: Callable[[], RoutingContext | None] | None = None,
        count: Callable[[str, str], None] | None = None,
    ) -> None:
        # Django instantiates routers without arguments; tests inject fakes.
        self._config = config or runtime.get_config
        self._registry = registry or runtime.get_registry
        self._in_atomic = in_atomic or _primary_in_atomic
        self._context = context or current
        self._count = count or metrics.incr

    def read_decision(self, model: Any = None, **hints: Any) -> decision.Decision:
        cfg = self._config()
        ctx = self._context()
        registry = self._registry()
        min_lsn = ctx.min_lsn if ctx is not None else None
        primary_lsn = registry.primary_lsn()

        def assess_alias(alias: str) -> str:
            def verdict(force: bool = False) -> str:
                return decision.assess(
                    registry.snapshot(alias, force=force),
                    down=registry.is_down(alias),
                    min_lsn=min_lsn,
                    primary_lsn=primary_lsn,
                    config=cfg,
                )

            first = verdict()
            if first == decision.LSN_BEHIND:
                # The cached replay position may predate the caller's commit by up to LSN_CACHE_SECONDS,
                # while replicas usually replay within a millisecond: ask once more before using the primary.
                return verdict(force=True)
            return first

        sticky = ctx.read_alias if ctx is not None else None
        result = decision.decide_read(
            has_context=ctx is not None,
            wrote=ctx is not None and ctx.wrote,
            in_atomic=self._in_atomic(cfg.primary_alias),
            pinned_model=model_label(model) in cfg.primary_models,
            sticky=sticky,
            sticky_reason=ctx.read_reason if ctx is not None else None,
            sticky_down=sticky is not None and registry.is_down(sticky),
            candidates=cfg.read_aliases,
            rotation=ctx.rotation if ctx is not None else runtime.next_rotation(),
            assess_alias=assess_alias,
            config=cfg,
        )
        for alias, reason in result.skipped:
            self._count(alias, reason)
        self._count(result.alias, result.reason)
        if ctx is not None:
            if result.reason not in _TRANSIENT:
                # A fresh choice (a replica, or the primary because none qualified) is kept for the context.
                ctx.read_alias, ctx.read_reason = result.alias, result.reason
            ctx.note_read(result.alias)
        return result

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return self.read_decision(model, **hints).alias

    def db_for_write(self, model: Any, **hints: Any) -> str:
        cfg = self._config()
        ctx = self._context()
        if ctx is not None:
            ctx.wrote = True
        self._count(cfg.primary_alias, decision.WRITE)
        return cfg.primary_alias

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        cfg = self._config()
        members = {cfg.primary_alias, *cfg.read_aliases}
        if obj1._state.db in members and obj2._state.db in members:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == self._config().primary_alias
