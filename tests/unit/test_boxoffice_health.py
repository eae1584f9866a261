"""Pure parts of the site's health layer: readiness rule, LSN maths, request ids, JSON logs, error triage."""

from __future__ import annotations

import json
import logging

import psycopg2
import psycopg2.errors
import pytest
from botocore.exceptions import EndpointConnectionError
from django.db import utils as db_utils

from health.checks import is_ready
from health.middleware import database_unavailable, request_id_from, storage_unavailable
from tiers_site.jsonlog import JsonFormatter, RequestContextFilter, request_id_var

MAX_BYTES, MAX_SECONDS = 1024, 5.0


def test_ready_while_reads_can_be_served() -> None:
    usable = {"alias": "db2", "ok": True, "state": "replica"}
    lagging = {"alias": "db3", "ok": True, "state": "lagging"}
    down = {"alias": "db4", "ok": False, "state": "down"}
    primary_node = {"alias": "db1", "ok": True, "state": "not-in-recovery"}
    assert is_ready(True, [])  # primary alone serves reads
    assert is_ready(False, [down, usable])  # primary down: read-only, still ready
    assert not is_ready(False, [down, lagging, primary_node])  # nothing can serve reads
    assert not is_ready(False, [])


def test_request_id_is_echoed_when_sane_and_generated_otherwise() -> None:
    assert request_id_from("0af7651916cd43dd8448eb211c80319c") == "0af7651916cd43dd8448eb211c80319c"
    for bad in (None, "", "x" * 129, 'a"b', "line\nbreak", "sp ace"):
        generated = request_id_from(bad)
        assert generated != bad
        assert len(generated) == 32


def test_json_log_line_carries_request_id_node_and_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERS_NODE_NAME", "web9")
    record = logging.LogRecord("tiers.request", logging.INFO, "f.py", 1, "GET %s %s", ("/x", 200), None)
    record.status = 200
    token = request_id_var.set("req-1")
    try:
        assert RequestContextFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "GET /x 200"
    assert entry["request_id"] == "req-1"
    assert entry["node"] == "web9"
    assert entry["status"] == 200
    assert entry["level"] == "INFO"


def test_dependency_errors_are_told_apart_from_bugs() -> None:
    assert database_unavailable(db_utils.OperationalError("could not connect"))
    assert database_unavailable(db_utils.InterfaceError("connection already closed"))
    assert database_unavailable(psycopg2.OperationalError("timeout expired"))
    assert not database_unavailable(db_utils.IntegrityError("duplicate key"))
    # A write that reached a standby (a demoted leader, before dbproxy's check notices): read-only, not a bug.
    standby = db_utils.InternalError("cannot execute INSERT in a read-only transaction")
    standby.__cause__ = psycopg2.errors.ReadOnlySqlTransaction(
        "cannot execute INSERT in a read-only transaction"
    )
    assert database_unavailable(standby)
    assert not database_unavailable(db_utils.InternalError("something else"))
    assert not database_unavailable(ValueError("bug"))
    # The server vanished mid-query: libpq reports a bare DatabaseError; SQL/data errors stay bugs.
    assert database_unavailable(db_utils.DatabaseError("error with status PGRES_TUPLES_OK and no message"))
    assert database_unavailable(psycopg2.DatabaseError("error with status PGRES_TUPLES_OK and no message"))
    assert not database_unavailable(db_utils.ProgrammingError("syntax error"))
    assert not database_unavailable(db_utils.DataError("value too long"))
    # A write that dbproxy sent to a node still in recovery (its leader check lags a role change): Django
    # wraps psycopg2's ReadOnlySqlTransaction in an InternalError. Other InternalErrors stay bugs.
    wrapped = db_utils.InternalError("cannot execute UPDATE in a read-only transaction")
    wrapped.__cause__ = psycopg2.errors.ReadOnlySqlTransaction(
        "cannot execute UPDATE in a read-only transaction"
    )
    assert database_unavailable(wrapped)
    assert not database_unavailable(db_utils.InternalError("current transaction is aborted"))
    assert storage_unavailable(EndpointConnectionError(endpoint_url="http://s3"))
    assert not storage_unavailable(db_utils.OperationalError("x"))
