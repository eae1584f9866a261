"""`restore-drill [TIME]`: restore the backups into a scratch PostgreSQL at a point in time and prove it
holds what the live primary held then.

What the primary held is a *mark* (deploy/render/marks.py): row counts and checksums of the key tables,
recorded on the primary at one commit. Without TIME the drill records a mark now; with TIME it takes the
newest mark at or before TIME. It restores the newest backup that ended before the mark, recovers WAL up
to and including the mark's transaction, and compares the copy's tables with the mark.

The scratch node runs on the leader's host (where pgBackRest, its config and PostgreSQL's binaries are),
in ``<state>/data/_restore-drill`` as the postgres OS user, listening on its own unix socket only: no
address or port it could share with a live node, nothing to join Patroni, nothing it archives. It is
removed afterwards, whether the drill passed or not.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from dataclasses import dataclass

from ..clients.probes import WaitTimeout, wait_for
from ..model.defaults import PG_BIN_DIR
from ..model.paths import StatePaths
from ..model.topology import Node
from ..render import marks, pgbackrest
from . import backup
from .backup import BackupError
from .context import Cluster
from .postgres import AdminError
from .progress import Progress

SCRATCH = "_restore-drill"  # not a valid node name: it cannot collide with a node's folders
RESTORE_TIMEOUT_S = 3600
ARCHIVE_WAIT_S = 90.0


@dataclass(frozen=True)
class DrillResult:
    mark: marks.Mark
    backup_label: str
    restored: dict[str, list]  # table -> [rows, md5] in the restored copy
    restore_s: float
    recovery_s: float


def parse_time(text: str) -> str:
    """TIME as ISO 8601 UTC text (``2026-11-30T12:00:00``, ``...Z`` or with an offset; no zone = UTC)."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        raise BackupError(
            f"TIME {text!r} is not a date and time: write e.g. 2026-11-30T12:00:00Z (UTC unless an offset is given)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_mark(cluster: Cluster, node: Node | None = None) -> marks.Mark:
    """Record what the primary holds now (a SHARE lock on the key tables for the time of the checksums)."""
    node = node or backup.leader(cluster)
    db = cluster.topo.database.name
    release = cluster.worker_release()
    wanted = release.spec.drill_tables if release else ()
    tables = cluster.pg.psql(node, marks.existing_tables_sql(wanted), database=db).split()
    out = cluster.pg.psql(node, marks.record_sql(tables), database=db, timeout=120)
    return marks.Mark.from_row(out.splitlines()[-1])


def _wait_archived(cluster: Cluster, node: Node) -> None:
    """Close the current WAL segment and wait until it is archived: then every commit so far (the mark's
    included) is in the archive. The segment is named from the write position *now*, past the mark's
    commit record (``pg_walfile_name`` of a position on a segment boundary names the segment before it,
    the one that record ended in)."""
    segment = cluster.pg.psql(node, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    cluster.pg.psql(node, "SELECT pg_switch_wal()")  # a no-op when nothing was written since the last one

    def archived() -> bool:
        last = cluster.pg.psql(node, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
        return len(last) == 24 and last[8:] >= segment[8:]

    try:
        wait_for(archived, f"WAL segment {segment} in the archive", ARCHIVE_WAIT_S)
    except WaitTimeout:
        failed = cluster.pg.psql(node, "SELECT failed_count, last_failed_wal FROM pg_stat_archiver")
        raise BackupError(
            f"WAL segment {segment} did not reach the archive in {ARCHIVE_WAIT_S:.0f} s (failures: {failed}): "
            "see the leader's log (make logs NODE=<leader>) for archive-push errors"
        ) from None


def backup_before(stanza: dict, mark: marks.Mark) -> dict:
    """The newest backup that was consistent before the mark's commit."""
    done = stanza.get("backup", [])
    if not done:
        raise BackupError("no backup yet: take one first (make backup)")
    usable = [b for b in done if marks.lsn_value(b["lsn"]["stop"]) <= marks.lsn_value(mark.lsn)]
    if not usable:
        first = backup.describe(done[0])
        raise BackupError(
            f"TIME is before the first backup ended (mark {mark.id} at {mark.at}; first backup {first}): "
            "pick a later TIME (make backups lists them)"
        )
    return usable[-1]


def _find_mark(cluster: Cluster, node: Node, time_text: str | None, stanza: dict) -> marks.Mark:
    db = cluster.topo.database.name
    if time_text is None:
        return record_mark(cluster, node)
    iso = parse_time(time_text)
    first = stanza.get("backup", [])
    if first and dt.datetime.fromtimestamp(first[0]["timestamp"]["stop"], dt.UTC) > dt.datetime.fromisoformat(
        iso
    ):
        raise BackupError(
            f"TIME {iso} is before the first backup ended ({backup.describe(first[0])}): nothing to restore "
            "from; pick a later TIME (make backups lists them)"
        )
    found = ""
    if cluster.pg.psql(node, marks.table_exists_sql(), database=db) == "t":
        found = cluster.pg.psql(node, marks.latest_before_sql(iso), database=db)
    if not found:
        raise BackupError(
            f"no backup mark at or before {iso}: marks are recorded by every backup and drill; "
            "omit TIME to record one now"
        )
    return marks.Mark.from_row(found)


def drill(cluster: Cluster, time_text: str | None = None) -> DrillResult:
    topo = cluster.topo
    title = f"at {time_text}" if time_text else "now"
    progress = Progress(f"restore drill of cluster {topo.cluster.name!r} {title}")
    node = backup.leader(cluster)
    paths = cluster.place.host_paths(node)
    with progress.step("reading the backup repository"):
        stanza = backup.info(cluster, node)
        if not stanza.get("backup"):
            raise BackupError("no backup yet: take one first (make backup)")
    with progress.step("finding what the primary held" if time_text else f"recording a mark on {node.name}"):
        mark = _find_mark(cluster, node, time_text, stanza)
    progress.say(f"mark {mark.id} at {mark.at} (transaction {mark.xid}): {_summary(mark.digests)}")
    chosen = backup_before(stanza, mark)
    with progress.step("waiting until the mark's WAL is in the archive"):
        _wait_archived(cluster, node)
    scratch = Scratch(cluster, node, paths)
    try:
        scratch.remove()
        began = time.monotonic()
        with progress.step(f"restoring backup {chosen['label']} into {scratch.pgdata}"):
            scratch.restore(chosen["label"], mark.xid)
        restore_s = time.monotonic() - began
        began = time.monotonic()
        with progress.step(f"recovering WAL up to transaction {mark.xid} and promoting"):
            scratch.start()
        recovery_s = time.monotonic() - began
        with progress.step("checksumming the restored tables"):
            restored = json.loads(scratch.psql(marks.digests_sql(list(mark.digests))))
    finally:
        with progress.step("removing the scratch node"):
            scratch.remove()
    _verify(mark, restored)
    progress.say(f"verified: the restore holds what the primary held at {mark.at}: {_summary(restored)}")
    return DrillResult(mark, chosen["label"], restored, restore_s, recovery_s)


def _summary(digests: dict[str, list]) -> str:
    return ", ".join(f"{t} {v[0]} rows" for t, v in digests.items()) or "no key tables yet"


def _verify(mark: marks.Mark, restored: dict[str, list]) -> None:
    wrong = [
        f"{t}: primary had {want[0]} rows (md5 {want[1][:12]}), the restore has {got[0]} (md5 {got[1][:12]})"
        for t, want in mark.digests.items()
        if (got := restored.get(t)) != want
    ]
    if wrong:
        raise BackupError("restore drill FAILED, the restored copy differs:\n  " + "\n  ".join(wrong))


@dataclass
class Scratch:
    """The drill's temporary PostgreSQL on the leader's host."""

    cluster: Cluster
    node: Node
    paths: StatePaths

    @property
    def pgdata(self) -> str:
        return str(self.paths.data(SCRATCH) / "pgdata")

    @property
    def socket_dir(self) -> str:
        return str(self.paths.socket_dir(SCRATCH))

    def _run(
        self, argv: list[str], timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess:
        return self.cluster.place.transport(self.node).run(argv, input=input, timeout=timeout, check=False)

    def restore(self, label: str, xid: int) -> None:
        for d in (self.paths.data(SCRATCH), self.paths.socket_dir(SCRATCH)):
            self._run(["install", "-d", "-m", "0700", "-o", "postgres", str(d)])
        self._run(["install", "-d", "-m", "0700", "-o", "postgres", self.pgdata])
        argv = pgbackrest.restore_argv(self.cluster.topo, self.node, self.paths, self.pgdata, label, xid)
        backup.run(self.cluster, self.node, argv, timeout=RESTORE_TIMEOUT_S)
        # Settings after pgBackRest's recovery lines: they override what the copied config says about
        # where the live node listens, its replication source and its archiving.
        overrides = "\n".join(
            [
                "# restore drill (deploy/commands/restore_drill.py): a scratch copy, not a cluster member",
                "listen_addresses = ''",
                f"port = {self.node.port}",
                f"unix_socket_directories = '{self.socket_dir}'",
                f"hba_file = '{self.pgdata}/pg_hba.conf'",
                f"ident_file = '{self.pgdata}/pg_ident.conf'",
                "archive_mode = 'off'",
                "primary_conninfo = ''",
                "primary_slot_name = ''",
                "cluster_name = 'restore-drill'",
                "",
            ]
        )
        conf = f"{self.pgdata}/postgresql.auto.conf"
        self._run(pgbackrest.as_postgres(["tee", "-a", conf]), input=overrides)
        self._run(["rm", "-f", f"{self.pgdata}/standby.signal"])

    @property
    def log(self) -> str:
        """Written by the postgres OS user (the log folder is root's); kept in log/ when the copy is removed."""
        return str(self.paths.data(SCRATCH) / "postgres.log")

    def start(self) -> None:
        log = self.log
        argv = pgbackrest.as_postgres(
            [str(PG_BIN_DIR / "pg_ctl"), "-D", self.pgdata, "-l", log, "-w", "-t", "600", "start"]
        )
        out = self._run(argv, timeout=660)
        if out.returncode != 0:
            raise BackupError(f"the restored copy did not start: {self._log_tail(log)}")

        def promoted() -> bool:
            try:
                return self.psql("SELECT pg_is_in_recovery()") == "f"
            except AdminError:
                if self._run(
                    pgbackrest.as_postgres([str(PG_BIN_DIR / "pg_ctl"), "-D", self.pgdata, "status"])
                ).returncode:
                    raise BackupError(
                        f"the restored copy stopped during recovery: {self._log_tail(log)}"
                    ) from None
                return False

        wait_for(promoted, "the restored copy to reach the mark and promote", RESTORE_TIMEOUT_S)

    def _log_tail(self, log: str) -> str:
        return self._run(["tail", "-n", "8", log]).stdout.strip()

    def psql(self, sql: str) -> str:
        argv = pgbackrest.as_postgres(
            [str(PG_BIN_DIR / "psql"), "-h", self.socket_dir, "-p", str(self.node.port), "-X", "-A", "-t", "-q",
             "-v", "ON_ERROR_STOP=1", "-d", self.cluster.topo.database.name, "-f", "-"]
        )  # fmt: skip
        out = self._run(argv, timeout=300, input=sql)
        if out.returncode != 0:
            raise AdminError(f"psql on the restored copy failed: {out.stderr.strip()}")
        return out.stdout.strip()

    def remove(self) -> None:
        pg_ctl = str(PG_BIN_DIR / "pg_ctl")
        if self._run(["test", "-f", f"{self.pgdata}/postmaster.pid"]).returncode == 0:
            self._run(pgbackrest.as_postgres([pg_ctl, "-D", self.pgdata, "-m", "immediate", "-w", "stop"]))
        self._run(["cp", "-f", self.log, str(self.paths.log / f"{SCRATCH}.log")])
        self._run(["rm", "-rf", str(self.paths.data(SCRATCH)), str(self.paths.socket_dir(SCRATCH))])
