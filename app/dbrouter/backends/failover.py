"""Failover where the query runs: a router only names an alias, so a replica that dies between the health
check and the connect (or mid-request) is handled by the database backend (dbrouter.backends.postgresql).

Pure helper (fallback_targets) + the glue used by the backend (targets_for). Closing the substitute
connections at the end of a routing context is dbrouter.context.close_substituted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .. import decision, runtime
from ..conf import RouterConfig
from ..context import RoutingContext


def fallback_targets(
    failed: str,
    candidates: Sequence[str],
    assess_alias: Callable[[str], str],
    primary: str,
) -> list[str]:
    """Where a read meant for `failed` goes instead: one other qualifying replica, then the primary."""
    for alias in candidates:
        if alias != failed and assess_alias(alias) == decision.REPLICA:
            return [alias, primary]
    return [primary]


def targets_for(failed: str, cfg: RouterConfig, ctx: RoutingContext | None) -> list[str]:
    registry = runtime.get_registry()
    min_lsn = ctx.min_lsn if ctx is not None else None

    def assess_alias(alias: str) -> str:
        return decision.assess(
            registry.snapshot(alias),
            down=registry.is_down(alias),
            min_lsn=min_lsn,
            primary_lsn=registry.primary_lsn(),
            config=cfg,
        )

    return fallback_targets(failed, cfg.read_aliases, assess_alias, cfg.primary_alias)
