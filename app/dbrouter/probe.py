"""The only I/O of the router: probe connections of its own (never Django's), each with a hard deadline.

Probes use psycopg2's asynchronous mode and select() so that the deadline covers connecting AND the query:
libpq's connect_timeout alone does not stop a replica that accepts the connection and then hangs (SIGSTOP).
Replica probes keep one small connection per alias per process (a probe every LSN_CACHE_SECONDS would
otherwise fork a backend each time); any error or timeout closes it, and the next probe reconnects.
The primary's report probe is short-lived (it goes through dbproxy, which cuts sessions on failover).
The router's config and health registry are not read here: callers pass the alias and the timeout
(dbrouter.runtime wires probe_replica into the health registry). The only state is the probe connections.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Mapping
from typing import Any

from django.db import connections

from .decision import ReplicaSnapshot
from .lsn import parse_lsn, parse_optional

REPLICA_SQL = (
    "SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,"
    " EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp()))::float8"
)
PRIMARY_SQL = "SELECT pg_current_wal_lsn()::text"

# Django-only OPTIONS keys that libpq does not understand.
_DJANGO_OPTIONS = {"isolation_level", "assume_role", "server_side_binding", "pool", "cursor_factory"}


class ProbeError(Exception):
    pass


def connect_params(settings_dict: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    """libpq keyword arguments from a Django DATABASES entry, with a whole-second connect_timeout (>= 1)."""
    params: dict[str, Any] = {
        k: v for k, v in dict(settings_dict.get("OPTIONS") or {}).items() if k not in _DJANGO_OPTIONS
    }
    for key, name in (("NAME", "dbname"), ("USER", "user"), ("PASSWORD", "password"), ("HOST", "host")):
        if settings_dict.get(key):
            params[name] = settings_dict[key]
    if settings_dict.get("PORT"):
        params["port"] = int(settings_dict["PORT"])
    params["connect_timeout"] = max(1, round(timeout))
    params.setdefault("application_name", "dbrouter-probe")
    return params


def snapshot_from_row(row: tuple[Any, ...], taken_at: float) -> ReplicaSnapshot:
    in_recovery, receive, replay, age = row
    return ReplicaSnapshot(
        in_recovery=bool(in_recovery),
        receive_lsn=parse_optional(receive),
        replay_lsn=parse_optional(replay),
        replay_age_seconds=None if age is None else float(age),
        taken_at=taken_at,
    )


def _wait(conn: Any, deadline: float) -> None:
    import psycopg2.extensions as ext

    while True:
        state = conn.poll()
        if state == ext.POLL_OK:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeError("timed out")
        if state == ext.POLL_READ:
            select.select([conn.fileno()], [], [], remaining)
        elif state == ext.POLL_WRITE:
            select.select([], [conn.fileno()], [], remaining)
        else:
            raise ProbeError(f"unexpected poll state {state}")


def _run(conn: Any, sql: str, deadline: float) -> tuple[Any, ...]:
    cur = conn.cursor()
    cur.execute(sql)
    _wait(conn, deadline)
    row = cur.fetchone()
    if row is None:
        raise ProbeError("no row")
    return tuple(row)


def query_one(params: Mapping[str, Any], sql: str, timeout: float) -> tuple[Any, ...]:
    """Run one query on a fresh connection; the whole round trip is bounded by timeout seconds."""
    import psycopg2

    deadline = time.monotonic() + timeout
    conn = psycopg2.connect(async_=1, **params)
    try:
        _wait(conn, deadline)
        return _run(conn, sql, deadline)
    finally:
        conn.close()


class ProbeConnections:
    """Reusable probe connections keyed by alias (and pid: never use a connection inherited over fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: dict[str, tuple[int, Any]] = {}

    def query(self, key: str, params: Mapping[str, Any], sql: str, timeout: float) -> tuple[Any, ...]:
        import psycopg2

        with self._lock:
            entry = self._conns.pop(key, None)
        kept = entry[1] if entry is not None and entry[0] == os.getpid() and not entry[1].closed else None
        deadline = time.monotonic() + timeout
        row: tuple[Any, ...] | None = None
        conn = kept
        if kept is not None:
            try:
                row = _run(kept, sql, deadline)
            except psycopg2.Error:
                # The kept connection may predate a restart of the server: a fresh attempt decides.
                kept.close()
            except BaseException:  # timeout (hung server) or anything else: no second try
                kept.close()
                raise
        if row is None:
            conn = psycopg2.connect(async_=1, **params)
            try:
                _wait(conn, deadline)
                row = _run(conn, sql, deadline)
            except BaseException:
                conn.close()
                raise
        with self._lock:
            if key in self._conns:  # another thread put one back meanwhile: keep one only
                conn.close()
            else:
                self._conns[key] = (os.getpid(), conn)
        return row


_probe_connections = ProbeConnections()


def _settings_dict(alias: str) -> Mapping[str, Any]:
    return connections[alias].settings_dict


def probe_replica(alias: str, timeout: float) -> ReplicaSnapshot:
    """One replica probe on the alias's kept probe connection, bounded by timeout seconds."""
    params = connect_params(_settings_dict(alias), timeout)
    row = _probe_connections.query(alias, params, REPLICA_SQL, timeout)
    return snapshot_from_row(row, time.monotonic())


def probe_primary_lsn(alias: str, timeout: float) -> int:
    """The primary's pg_current_wal_lsn() on a fresh bounded connection (for reports: never hangs)."""
    params = connect_params(_settings_dict(alias), timeout)
    return parse_lsn(query_one(params, PRIMARY_SQL, timeout)[0])


def committed_primary_lsn(alias: str) -> int | None:
    """The primary's WAL position read on Django's own connection to alias (already open, so no extra
    connect). None when a transaction is still open (nothing committed yet to wait for) or none is open."""
    conn = connections[alias]
    if conn.in_atomic_block or conn.connection is None:
        return None
    with conn.cursor() as cursor:
        cursor.execute(PRIMARY_SQL)
        return parse_lsn(cursor.fetchone()[0])
