"""Backups with pgBackRest on the real cluster: a backup to the S3 store, its listing and status, and
restore drills into a scratch PostgreSQL (one recovers rows a deliberate DELETE removed)."""

from __future__ import annotations

import re

import pytest

from deploy.commands import backup_schedule, restore_drill
from deploy.commands.context import Cluster
from deploy.commands.postgres import psql_argv
from tests.conftest import deploy_cli

pytestmark = [pytest.mark.integration]

LOADED = 300


def orders(cluster: Cluster, where: str = "true") -> int:
    leader = cluster.pg.leader()
    assert leader is not None
    sql = f"SELECT count(*) FROM boxoffice_order WHERE {where}"
    return int(cluster.pg.psql(leader, sql, database=cluster.topo.database.name))


def restored_orders(drill_output: str) -> int:
    found = re.search(r"verified: .*boxoffice_order (\d+) rows", drill_output)
    assert found, drill_output
    return int(found.group(1))


@pytest.fixture(scope="module")
def backed_up(cluster: Cluster) -> Cluster:
    out = deploy_cli("backup", "--type", "full", timeout=900)
    assert re.search(r"backup \d{8}-\d{6}F \(full\)", out.stdout), out.stdout
    return cluster


def test_backup_is_listed_and_in_status(backed_up: Cluster) -> None:
    deploy_cli("backup", "--type", "diff", timeout=900)
    listing = deploy_cli("backups").stdout
    assert re.search(r"^\d{8}-\d{6}F\s+full\s", listing, re.M), listing
    assert re.search(r"^\d{8}-\d{6}F_\d{8}-\d{6}D\s+diff\s", listing, re.M), listing
    assert "WAL archive 15-1:" in listing
    status = deploy_cli("status").stdout
    assert re.search(r"backups: last full \d{8}-\d{6}F, \d+ s ago", status), status
    assert re.search(r"backups: last diff \S+D, \d+ s ago", status), status
    assert re.search(r"WAL archive: \d+ segments, last \d+ (s|min) ago", status), status


def test_restore_drill_recovers_rows_a_delete_removed(backed_up: Cluster) -> None:
    cluster = backed_up
    leader = cluster.pg.leader()
    assert leader is not None
    load = psql_argv(
        cluster.paths, leader,
        ["-X", "-q", "-d", cluster.topo.database.name, "-v", f"n={LOADED}",
         "-f", str(cluster.paths.repo / "db" / "load_orders.sql")],
    )  # fmt: skip
    assert cluster.place.transport(leader).run(load, timeout=60, check=False).returncode == 0
    before = orders(cluster)
    assert before >= LOADED
    loaded = orders(cluster, "idempotency_key LIKE 'load-%'")
    assert loaded >= LOADED
    mark = restore_drill.record_mark(cluster)
    assert mark.digests["boxoffice_order"][0] == before
    # The accident, after the mark: every loaded order deleted.
    cluster.pg.psql(
        leader, "DELETE FROM boxoffice_order WHERE idempotency_key LIKE 'load-%'", cluster.topo.database.name
    )
    after = orders(cluster)
    assert after == before - loaded

    out = deploy_cli("restore-drill", "--time", mark.at, timeout=900)
    assert f"mark {mark.id} at {mark.at}" in out.stdout, out.stdout
    assert "restore drill passed" in out.stdout
    # The copy at the mark holds the deleted rows again; the live primary still lacks them.
    assert restored_orders(out.stdout) == before
    assert orders(cluster) == after
    assert not (cluster.paths.data(restore_drill.SCRATCH)).exists(), "the scratch node was left behind"


def test_drill_now_verifies_the_latest_commit(backed_up: Cluster) -> None:
    out = deploy_cli("restore-drill", timeout=900)
    assert "restore drill passed" in out.stdout, out.stdout
    assert restored_orders(out.stdout) == orders(backed_up)


def test_drill_before_the_first_backup_says_so_and_changes_nothing(backed_up: Cluster) -> None:
    out = deploy_cli("restore-drill", "--time", "2001-01-01T00:00:00Z", check=False)
    assert out.returncode == 1
    assert "is before the first backup ended" in out.stderr, out.stderr
    assert not (backed_up.paths.data(restore_drill.SCRATCH)).exists()
    bad = deploy_cli("restore-drill", "--time", "last tuesday", check=False)
    assert bad.returncode == 1 and "is not a date and time" in bad.stderr


@pytest.mark.chaos
def test_archiving_follows_a_switchover(backed_up: Cluster) -> None:
    original = backed_up.pg.leader()
    assert original is not None
    deploy_cli("failover")
    try:
        new = backed_up.pg.leader()
        assert new is not None and new != original
        # A mark on the new leader's timeline, recovered from a backup of the old one: the new leader
        # archived its WAL and timeline history with its own pgBackRest config.
        out = deploy_cli("restore-drill", timeout=900)
        assert f"recording a mark on {new.name}" in out.stdout, out.stdout
        assert "restore drill passed" in out.stdout
        archiver = backed_up.pg.psql(new, "SELECT archived_count > 0 FROM pg_stat_archiver")
        assert archiver == "t"
    finally:
        deploy_cli("failover", "--to", original.name)


def test_only_the_leaders_schedule_acts(backed_up: Cluster) -> None:
    # What the `<db node>-backups` sidecars run each minute, seen from this host like theirs.
    cluster = backup_schedule.host_cluster(
        backed_up.paths.repo / backed_up.topo.source, backed_up.paths.root.parent
    )
    leader = cluster.pg.leader()
    assert leader is not None
    replica = next(n for n in cluster.topo.by_role("db") if n != leader)
    count = "SELECT count(*) FROM tiers_ops.backup_marks"
    db = cluster.topo.database.name
    before = int(cluster.pg.psql(leader, count, database=db))
    assert backup_schedule.tick(cluster, replica, 0.0) == 0.0
    # The leader's: a backup exists from today, so none is due; a mark is (the last one is "never").
    assert backup_schedule.tick(cluster, leader, 0.0) > 0.0
    # (>=: the leader's own sidecar may record its periodic mark meanwhile)
    assert int(cluster.pg.psql(leader, count, database=db)) >= before + 1
