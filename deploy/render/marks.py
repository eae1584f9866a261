"""Backup marks: what the primary held at one commit, recorded so a restore drill can verify a restore.

A mark is one row of ``tiers_ops.backup_marks`` in the application database (a schema of the superuser's
that the app role cannot reach), written in a transaction that first takes SHARE locks on the key tables:
no write to them can commit between the snapshot the digests are computed from and the mark's own commit.
Recovering up to and including the mark's transaction id therefore gives exactly the rows it describes.
The builders here return SQL text; deploy/commands/restore_drill.py runs it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

SCHEMA = "tiers_ops"
TABLE = f"{SCHEMA}.backup_marks"
# The tables a drill compares are the project's (tiers.toml drill_tables; none named: every table of the
# public schema). Tables missing from the database (before the first migrate) are left out of a mark.
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Mark:
    id: int
    at: str  # ISO 8601, UTC
    xid: int
    lsn: str
    digests: dict[str, list]  # table -> [row count, md5 of its rows in primary-key order]

    @classmethod
    def from_row(cls, line: str) -> Mark:
        """A mark from psql's unaligned ``id|at|xid|lsn|digests`` line."""
        ident, at, xid, lsn, digests = line.split("|", 4)
        return cls(int(ident), at, int(xid), lsn, json.loads(digests))


def lsn_value(lsn: str) -> int:
    """PostgreSQL's ``X/Y`` LSN notation as a number (for comparing positions)."""
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def digest_expr(table: str) -> str:
    """[row count, md5 over every row's md5, in their order] of ``table``, as a jsonb array.

    Ordered by the rows' own digests, not a key: any table compares, whatever its primary key is called."""
    if not _IDENT.match(table):
        raise ValueError(f"{table!r} is not a plain table name")
    return (
        f"(SELECT jsonb_build_array(count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), ''))"
        f" FROM public.{table} t)"
    )


def digests_sql(tables: list[str]) -> str:
    """One jsonb object: table -> digest (run on the restored copy to compare with a mark)."""
    return f"SELECT {_digests_object(tables)}::text;"


def existing_tables_sql(tables: tuple[str, ...]) -> str:
    """The names of ``tables`` that exist, or (none named) every table of the public schema."""
    if not tables:
        return "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^[a-z_][a-z0-9_]*$' ORDER BY 1;"
    for t in tables:
        digest_expr(t)  # refuses anything but a plain table name
    listed = ", ".join(f"'{t}'" for t in tables)
    return f"SELECT t FROM unnest(ARRAY[{listed}]) AS t WHERE to_regclass('public.' || t) IS NOT NULL;"


_COLUMNS = "id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), xid, lsn, digests::text"


def record_sql(tables: list[str]) -> str:
    """Create the marks table if needed, then lock the key tables and record one mark (printed back)."""
    locks = f"LOCK TABLE {', '.join(f'public.{t}' for t in tables)} IN SHARE MODE;\n" if tables else ""
    return (
        f"CREATE SCHEMA IF NOT EXISTS {SCHEMA};\n"
        f"CREATE TABLE IF NOT EXISTS {TABLE} (\n"
        "  id bigserial PRIMARY KEY, at timestamptz NOT NULL, xid bigint NOT NULL, lsn pg_lsn NOT NULL,\n"
        "  digests jsonb NOT NULL);\n"
        "BEGIN;\n"
        f"{locks}"
        f"INSERT INTO {TABLE} (at, xid, lsn, digests)\n"
        f"  SELECT clock_timestamp(), txid_current(), pg_current_wal_lsn(), {_digests_object(tables)}\n"
        f"  RETURNING {_COLUMNS};\n"
        "COMMIT;\n"
    )


# jsonb_build_object takes at most 100 arguments (50 tables): more are joined object by object with ||.
_PER_OBJECT = 50


def _digests_object(tables: list[str]) -> str:
    """table -> digest as one jsonb object, whatever the number of tables (a CMS has a hundred)."""
    chunks = [tables[i : i + _PER_OBJECT] for i in range(0, len(tables), _PER_OBJECT)] or [[]]
    objects = ["jsonb_build_object(" + ", ".join(f"'{t}', {digest_expr(t)}" for t in c) + ")" for c in chunks]
    return "(" + " || ".join(objects) + ")"


def latest_before_sql(iso_time: str) -> str:
    """The newest mark at or before ``iso_time`` (validated ISO 8601 text, see restore_drill.parse_time)."""
    return f"SELECT {_COLUMNS} FROM {TABLE} WHERE at <= '{iso_time}'::timestamptz ORDER BY at DESC LIMIT 1;"


def by_id_sql(ident: int) -> str:
    return f"SELECT {_COLUMNS} FROM {TABLE} WHERE id = {int(ident)};"


def table_exists_sql() -> str:
    return f"SELECT to_regclass('{TABLE}') IS NOT NULL;"


def prune_sql(before_epoch: float) -> str:
    """Forget marks older than the oldest backup kept: nothing can be restored to them any more."""
    return f"DELETE FROM {TABLE} WHERE at < to_timestamp({float(before_epoch)});"
