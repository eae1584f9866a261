"""Backups: pgBackRest's config and argv, backup marks' SQL, the schedule's decision, the archive lag."""

from __future__ import annotations

import pytest

from deploy.commands.backup import BackupError, unarchived_bytes
from deploy.commands.backup_schedule import due
from deploy.commands.restore_drill import backup_before, parse_time
from deploy.model.topology import TopologyError
from deploy.render import marks, pgbackrest
from deploy.roles import loads
from tests.unit.fixtures import PATHS, SECRETS, SMALL, small
from tests.unit.golden import assert_golden

AWS = SMALL.replace(
    '[cluster]\nname = "mini"',
    '[cluster]\nname = "mini"\nprofile = "production"\n'
    '[storage]\naddressing_style = "virtual"\nendpoint_url = "https://s3.eu-west-1.amazonaws.com"\n'
    'region = "eu-west-1"',
)


def test_local_config_exact() -> None:
    topo = small()
    assert_golden("pgbackrest-db1.conf", pgbackrest.render_config(topo, topo.one("db"), PATHS, SECRETS))


def test_aws_config_uses_the_regional_endpoint_the_instance_role_and_verifies_tls() -> None:
    topo = loads(AWS)
    no_keys = SECRETS.__class__(
        **{**SECRETS.__dict__, "backup_s3_access_key": "", "backup_s3_secret_key": ""}
    )
    text = pgbackrest.render_config(topo, topo.one("db"), PATHS, no_keys)
    assert "repo1-s3-endpoint=s3.eu-west-1.amazonaws.com\n" in text
    assert "repo1-s3-key-type=auto\n" in text and "repo1-s3-key=" not in text
    assert "repo1-s3-uri-style=host\n" in text and "repo1-s3-region=eu-west-1\n" in text
    assert "verify-tls" not in text and "repo1-storage-port" not in text


def test_plain_http_endpoint_is_refused_with_the_fix() -> None:
    topo = loads(AWS.replace("https://s3.eu-west-1", "http://s3.eu-west-1"))
    with pytest.raises(TopologyError, match="must be an https:// URL"):
        pgbackrest.render_config(topo, topo.one("db"), PATHS, SECRETS)


def test_archive_command_and_backup_from_a_standby() -> None:
    topo = small()
    db1, db2 = topo.by_role("db")
    assert pgbackrest.archive_command(topo, db1, PATHS) == (
        "/usr/bin/pgbackrest --config=/state/conf/pgbackrest-db1.conf --stanza=mini archive-push %p"
    )
    assert pgbackrest.backup_argv(topo, db1, PATHS, "diff", db2) == [
        "runuser", "-u", "postgres", "--", "/usr/bin/pgbackrest", "--config=/state/conf/pgbackrest-db1.conf",
        "--stanza=mini", "--type=diff", "--pg2-path=/state/data/db2/pgdata", "--pg2-port=5432",
        "--pg2-socket-path=/state/run/db2", "--pg2-user=postgres", "--backup-standby", "backup",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="not one of"):
        pgbackrest.backup_argv(topo, db1, PATHS, "weekly")


def test_restore_targets_a_transaction_in_a_chosen_set_and_archives_nothing() -> None:
    topo = small()
    argv = pgbackrest.restore_argv(topo, topo.one("db"), PATHS, "/scratch", "20261130-120000F", 805)
    assert argv[-7:] == [
        "--pg1-path=/scratch", "--set=20261130-120000F", "--type=xid", "--target=805",
        "--target-action=promote", "--archive-mode=off", "restore",
    ]  # fmt: skip


def test_mark_sql_locks_the_key_tables_before_computing_digests() -> None:
    sql = marks.record_sql(["boxoffice_order", "auth_user"])
    assert sql.index("LOCK TABLE public.boxoffice_order, public.auth_user IN SHARE MODE") < sql.index(
        "INSERT"
    )
    assert "txid_current(), pg_current_wal_lsn()" in sql
    assert "FROM public.boxoffice_order t" in sql
    with pytest.raises(ValueError):
        marks.digest_expr("orders; DROP TABLE x")


def test_mark_row_and_lsn_parsing() -> None:
    mark = marks.Mark.from_row('7|2026-11-30T12:00:00.000001Z|805|0/A0001C0|{"auth_user": [3, "ab"]}')
    assert (mark.id, mark.xid, mark.digests) == (7, 805, {"auth_user": [3, "ab"]})
    assert marks.lsn_value("1/0") == 2**32 and marks.lsn_value("0/A0001C0") == 0xA0001C0


def test_unarchived_bytes_counts_from_the_end_of_the_last_archived_segment() -> None:
    assert unarchived_bytes("00000001000000000000000A", "0/B000100") == 0x100
    assert unarchived_bytes("00000001000000000000000A.00000028.backup", "0/B000000") == 0
    assert unarchived_bytes("000000010000000100000000", "1/1000010") == 0x10
    assert unarchived_bytes("00000002.history", "0/B000100") is None


def test_time_is_read_as_utc_unless_it_says_otherwise() -> None:
    assert parse_time("2026-11-30T12:00:00") == "2026-11-30T12:00:00.000000Z"
    assert parse_time("2026-11-30 13:00:00+01:00") == "2026-11-30T12:00:00.000000Z"
    with pytest.raises(BackupError, match="not a date and time"):
        parse_time("yesterday")


def _backup(kind: str, stop: float) -> dict:
    return {"type": kind, "timestamp": {"start": stop - 5, "stop": stop}}


def test_schedule_takes_a_full_first_then_differentials_then_a_full_again() -> None:
    schedule = small().backup  # full every 168 h, diff every 24 h
    hour = 3600.0
    assert due([], 0, schedule) == "full"
    full = [_backup("full", 0)]
    assert due(full, 23 * hour, schedule) is None
    assert due(full, 24 * hour, schedule) == "diff"
    with_diff = [*full, _backup("diff", 24 * hour)]
    assert due(with_diff, 47 * hour, schedule) is None
    assert due(with_diff, 168 * hour, schedule) == "full"


def test_drill_picks_the_newest_backup_consistent_before_the_mark() -> None:
    mark = marks.Mark(3, "2026-11-30T12:00:00.000000Z", 900, "0/5000000", {})
    older = {"label": "A", "type": "full", "lsn": {"stop": "0/3000100"}, "timestamp": {"start": 1, "stop": 2},
             "info": {"size": 1, "repository": {"delta": 1}}}  # fmt: skip
    newer = {**older, "label": "B", "lsn": {"stop": "0/4000000"}}
    later = {**older, "label": "C", "lsn": {"stop": "0/6000000"}}
    assert backup_before({"backup": [older, newer, later]}, mark)["label"] == "B"
    with pytest.raises(BackupError, match="before the first backup ended"):
        backup_before({"backup": [later]}, mark)
    with pytest.raises(BackupError, match="no backup yet"):
        backup_before({"backup": []}, mark)


def test_a_mark_of_many_tables_joins_objects_of_at_most_100_arguments() -> None:
    """jsonb_build_object takes 100 arguments: a project of 120 tables (a CMS) is three objects joined."""
    tables = [f"t{i}" for i in range(120)]
    sql = marks.digests_sql(tables)
    assert sql.startswith("SELECT (jsonb_build_object(") and sql.endswith(")::text;")
    objects = sql.split("jsonb_build_object(")[1:]
    assert len(objects) == 3 and [o.count("', (SELECT") for o in objects] == [50, 50, 20]
    assert marks.digests_sql(["only"]).count("jsonb_build_object(") == 1
