"""Django's PostgreSQL backend, plus failover for read aliases (settings.DBROUTER READ_ALIASES).

- connect: a read alias that is marked down, or whose connect fails (OperationalError), is marked down and
  the connection is opened to another qualifying replica, else to the primary. The wrapper keeps its alias
  ("db2") but `dbrouter_target` names the server really used ("db3" / "default").
- execute: a read on a read alias outside a transaction that fails with OperationalError/InterfaceError
  (the server died under an open connection) marks the target down, reconnects as above and runs the
  statement once more. Reads only reach read aliases, and a hot standby cannot write, so the retry is safe.
For any other alias (the primary) it behaves exactly like django.db.backends.postgresql.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import connections
from django.db.backends.postgresql import base as pg
from django.db.backends.utils import CursorWrapper
from django.db.utils import InterfaceError, OperationalError

from ... import decision, metrics, runtime
from ...context import current
from ..failover import targets_for

logger = logging.getLogger("dbrouter")

Database = pg.Database


class _RetryMixin:
    db: DatabaseWrapper
    cursor: Any

    def _execute(self, sql: Any, params: Any, *ignored: Any) -> Any:
        try:
            return super()._execute(sql, params, *ignored)  # type: ignore[misc]
        except (OperationalError, InterfaceError) as exc:
            if not self.db.dbrouter_recover(exc):
                raise
            self.cursor = self.db.create_cursor(getattr(self.cursor, "name", None))
            return super()._execute(sql, params, *ignored)  # type: ignore[misc]

    def _executemany(self, sql: Any, param_list: Any, *ignored: Any) -> Any:
        try:
            return super()._executemany(sql, param_list, *ignored)  # type: ignore[misc]
        except (OperationalError, InterfaceError) as exc:
            if not self.db.dbrouter_recover(exc):
                raise
            self.cursor = self.db.create_cursor(getattr(self.cursor, "name", None))
            return super()._executemany(sql, param_list, *ignored)  # type: ignore[misc]


class FailoverCursorWrapper(_RetryMixin, CursorWrapper):
    pass


class FailoverCursorDebugWrapper(_RetryMixin, pg.CursorDebugWrapper):
    pass


class DatabaseWrapper(pg.DatabaseWrapper):
    dbrouter_target: str | None = None

    def _is_read_alias(self) -> bool:
        return self.alias in runtime.get_config().read_aliases

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if self._is_read_alias():
            # A hung or unreachable replica must not stall a request for libpq's default (forever).
            params.setdefault("connect_timeout", max(1, round(runtime.get_config().connect_timeout)))
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if not self._is_read_alias():
            self.dbrouter_target = self.alias
            return super().get_new_connection(conn_params)
        cfg = runtime.get_config()
        registry = runtime.get_registry()
        ctx = current()
        if not registry.is_down(self.alias):
            try:
                conn = super().get_new_connection(conn_params)
            except Database.OperationalError as exc:
                registry.mark_down(self.alias, str(exc).strip())
                metrics.incr(self.alias, decision.DOWN)
                logger.warning("dbrouter: %s connect failed, marked down: %s", self.alias, exc)
            else:
                self.dbrouter_target = self.alias
                if ctx is not None:
                    ctx.substitutes.pop(self.alias, None)
                return conn
        last_exc: Exception | None = None
        for target in targets_for(self.alias, cfg, ctx):
            params = connections[target].get_connection_params()
            params.setdefault("connect_timeout", max(1, round(cfg.connect_timeout)))
            try:
                conn = super().get_new_connection(params)
            except Database.OperationalError as exc:
                last_exc = exc
                if target != cfg.primary_alias:
                    registry.mark_down(target, str(exc).strip())
                    metrics.incr(target, decision.DOWN)
                continue
            self.dbrouter_target = target
            if ctx is not None:
                ctx.substitutes[self.alias] = target
            logger.info("dbrouter: %s unavailable, read served by %s", self.alias, target)
            return conn
        assert last_exc is not None
        raise last_exc

    def dbrouter_recover(self, exc: Exception) -> bool:
        """After a failed read statement: mark the server down and reconnect elsewhere. False = re-raise."""
        if not self._is_read_alias() or self.in_atomic_block:
            return False
        failed = self.dbrouter_target or self.alias
        if failed == runtime.get_config().primary_alias:
            return False
        runtime.get_registry().mark_down(failed, str(exc).strip())
        ctx = current()
        if ctx is not None:
            ctx.failed_midway.add(failed)
        metrics.incr(failed, decision.DOWN)
        logger.warning("dbrouter: read on %s failed, retrying elsewhere: %s", failed, exc)
        try:
            self.close()
        except Exception:
            self.connection = None
        self.ensure_connection()
        return True

    def make_cursor(self, cursor: Any) -> CursorWrapper:
        return FailoverCursorWrapper(cursor, self)

    def make_debug_cursor(self, cursor: Any) -> CursorWrapper:
        return FailoverCursorDebugWrapper(cursor, self)
