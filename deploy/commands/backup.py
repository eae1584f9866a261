"""Backups with pgBackRest: the stanza at `up`, `backup`, `backups` (list), their state in `status`.

Every pgBackRest command runs on the current Patroni leader's host (through the place's transport, as
the postgres OS user, with that node's config: deploy/render/pgbackrest.py). Where a streaming replica's
data directory is on the same host (the loopback cluster), a backup copies its files from the replica
and asks the primary only to start and stop it. Restore drills: deploy/commands/restore_drill.py.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..clients import probes
from ..clients.transport import TransportError
from ..model.topology import Node
from ..render import pgbackrest
from ..render.marks import lsn_value
from .context import Cluster
from .postgres import AdminError
from .progress import Progress


class BackupError(RuntimeError):
    """A backup operation failed; the message says what and how to go on."""


class Locked(BackupError):
    """Another pgBackRest backup (or expire) of the stanza holds its lock."""


# pgBackRest's own bounds are a minute (archive-timeout) per wait; a full backup of a large database may
# take much longer than any of them.
BACKUP_TIMEOUT_S = 3600
COMMAND_TIMEOUT_S = 180
LOCK_POLL_S = 5.0


def leader(cluster: Cluster) -> Node:
    node = cluster.pg.leader()
    if node is None:
        raise BackupError("no Patroni leader answers: is the cluster up? (make up; make status)")
    return node


def explain(stderr: str, cluster: Cluster) -> str:
    """pgBackRest's error with what it usually means for this cluster."""
    text = stderr.strip()
    storage = cluster.topo.storage
    where = storage.endpoint_url or f"the s3 node {cluster.topo.one('s3').address}"
    if any(
        s in text for s in ("unable to connect", "HostConnectError", "[049]", "connection refused", "timeout")
    ):
        return f"{text}\n  -> the S3 store ({where}) does not answer: is it up? (make status)"
    if "[055]" in text or ("does not exist" in text and "stanza" in text):
        return f"{text}\n  -> the backup repository is not initialised: `make up` creates it"
    return text


def s3_endpoint(cluster: Cluster) -> tuple[str, int]:
    """Where pgBackRest reaches the repository: the local S3 node's TLS port, or the regional endpoint."""
    storage = cluster.topo.storage
    if storage.endpoint_url:
        url = urlsplit(storage.endpoint_url)
        return url.hostname or "", url.port or 443
    s3 = cluster.topo.one("s3")
    return s3.address, s3.opt("https_port")


def run(cluster: Cluster, node: Node, argv: list[str], timeout: float = COMMAND_TIMEOUT_S) -> str:
    """``argv`` on ``node``'s host; pgBackRest's failure becomes a :class:`BackupError`.

    The S3 store is asked first from that host: pgBackRest retries a refused connection for minutes.
    """
    host, port = s3_endpoint(cluster)
    if not cluster.place.prober(node).tcp_open(host, port, timeout=3.0):
        raise BackupError(
            f"the S3 store {host}:{port} does not answer from {node.name}'s host: is it up? "
            "(make status; make up starts it)"
        )
    try:
        out = cluster.place.transport(node).run(argv, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{argv[-1]} on {node.name} took longer than {timeout:.0f} s") from None
    except TransportError as exc:
        raise BackupError(f"cannot reach {node.name}'s host: {exc}") from None
    if out.returncode != 0:
        error = Locked if "ERROR: [050]" in out.stderr else BackupError
        raise error(f"pgbackrest {argv[-1]} on {node.name} failed:\n{explain(out.stderr, cluster)}")
    return out.stdout


def ensure_stanza(cluster: Cluster, progress: Progress) -> None:
    """Idempotent: WAL archiving on (a restart where an older config lacked it), the stanza, a check."""
    node = leader(cluster)
    topo, paths = cluster.topo, cluster.place.host_paths(node)
    progress.say("WAL archiving on every DB node")
    _archive_mode_on(cluster, progress)
    with progress.step(
        f"pgBackRest stanza {pgbackrest.stanza(topo)!r} in bucket {topo.storage.backup_bucket!r}"
    ):
        run(cluster, node, pgbackrest.command_argv(topo, node, paths, "stanza-create"))
    with progress.step("pgbackrest check (a WAL segment reaches the archive)"):
        run(cluster, node, pgbackrest.command_argv(topo, node, paths, "check"))


def _archive_mode_on(cluster: Cluster, progress: Progress) -> None:
    """archive_mode needs a restart: members started from an older config restart (through Patroni, so
    the leader stays the leader). Patroni takes the new config on its next loop after `up`'s SIGHUP, so a
    member may come back still without archiving once: it is asked again."""
    for _attempt in range(3):
        pending = [n.name for n in cluster.topo.by_role("db") if _archiving(cluster, n) is False]
        if not pending:
            return
        progress.say(f"restarting {', '.join(pending)} through Patroni: archive_mode takes effect on restart")
        time.sleep(cluster.topo.database.patroni_loop_wait)
        ctl = str(cluster.paths.venv / "bin" / "patronictl")
        conf = str(cluster.paths.conf_file("patronictl.yml"))
        argv = [ctl, "-c", conf, "restart", cluster.topo.cluster.name, *pending, "--force"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if out.returncode != 0:
            raise BackupError(
                f"restarting {', '.join(pending)} for archive_mode failed: {out.stderr.strip()}"
            )
        probes.wait_for(cluster.pg.leader_accepts_sql, "the leader after the restart", 90)
    raise BackupError(
        f"archive_mode is still off on {', '.join(pending)}: check `make logs NODE=<node>` and "
        f"`patronictl -c {cluster.paths.conf_file('patronictl.yml')} list` (pending restart?)"
    )


def _archiving(cluster: Cluster, node: Node) -> bool | None:
    """archive_mode is on (None: the node does not answer; it starts with archiving on)."""
    try:
        return cluster.pg.psql(node, "SHOW archive_mode") == "on"
    except (AdminError, TransportError, subprocess.TimeoutExpired):
        return None


def _standby(cluster: Cluster, primary: Node) -> Node | None:
    """A streaming replica whose files the backup may copy (only where it shares the primary's host)."""
    if cluster.topo.cluster.hosts != "loopback":
        return None
    streaming = cluster.pg.streaming_replicas()
    return next((n for n in cluster.topo.by_role("db") if n.name in streaming and n != primary), None)


def info(cluster: Cluster, node: Node | None = None) -> dict:
    """``pgbackrest info`` of the cluster's stanza (JSON), asked on the leader's host."""
    node = node or leader(cluster)
    argv = pgbackrest.command_argv(
        cluster.topo, node, cluster.place.host_paths(node), "info", "--output=json"
    )
    data = json.loads(run(cluster, node, argv) or "[]")
    if not data:
        raise BackupError("pgbackrest info returned nothing")
    stanza = data[0]
    status = stanza.get("status", {})
    if status.get("code") not in (0, 2):  # 2: the stanza exists and has no backup yet
        raise BackupError(f"backup repository: {status.get('message', status)}")
    return stanza


def take(cluster: Cluster, kind: str, wait: bool = True) -> dict:
    """Take a ``kind`` (full, diff, incr) backup now; return its entry from ``pgbackrest info``. While
    another backup holds the stanza's lock: wait for it, or (``wait=False``) raise :class:`Locked`."""
    topo = cluster.topo
    progress = Progress(
        f"{kind} backup of cluster {topo.cluster.name!r} to bucket {topo.storage.backup_bucket!r}"
    )
    node = leader(cluster)
    standby = _standby(cluster, node)
    source = f"files from replica {standby.name}" if standby else "files from the primary"
    argv = pgbackrest.backup_argv(topo, node, cluster.place.host_paths(node), kind, standby)
    deadline = time.monotonic() + BACKUP_TIMEOUT_S
    while True:
        try:
            with progress.step(f"pgbackrest backup --type={kind} on {node.name} ({source})"):
                run(cluster, node, argv, timeout=BACKUP_TIMEOUT_S)
            break
        except Locked:
            if not wait or time.monotonic() > deadline:
                raise
            progress.say("another backup of this cluster is running (the schedule?): waiting for it")
            time.sleep(LOCK_POLL_S)
    newest = info(cluster, node)["backup"][-1]
    progress.say(f"backup {describe(newest)}")
    return newest


@dataclass(frozen=True)
class BackupRow:
    label: str
    kind: str
    started: str
    seconds: int
    db_bytes: int
    repo_bytes: int


def rows(stanza: dict) -> list[BackupRow]:
    out = []
    for b in stanza.get("backup", []):
        start, stop = b["timestamp"]["start"], b["timestamp"]["stop"]
        out.append(
            BackupRow(
                b["label"],
                b["type"],
                _iso(start),
                stop - start,
                b["info"]["size"],
                b["info"]["repository"]["delta"],
            )
        )
    return out


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def describe(b: dict) -> str:
    r = rows({"backup": [b]})[0]
    return f"{r.label} ({r.kind}): {r.seconds} s, database {_size(r.db_bytes)}, stored {_size(r.repo_bytes)}"


def list_backups(cluster: Cluster) -> int:
    stanza = info(cluster)
    backups = rows(stanza)
    if not backups:
        print(f"no backup yet in bucket {cluster.topo.storage.backup_bucket!r}: make backup")
        return 0
    header = ("LABEL", "TYPE", "STARTED (UTC)", "SECONDS", "DATABASE", "STORED")
    table = [header] + [
        (r.label, r.kind, r.started, str(r.seconds), _size(r.db_bytes), _size(r.repo_bytes)) for r in backups
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for archive in stanza.get("archive", []):
        print(f"WAL archive {archive['id']}: {archive.get('min')} .. {archive.get('max')}")
    return 0


def status_lines(cluster: Cluster) -> list[str]:
    """Backup state for `make status`: newest full and diff with their age, and the WAL archiver's state."""
    try:
        node = leader(cluster)
        stanza = info(cluster, node)
        archiver = cluster.pg.psql(node, _ARCHIVER_SQL).split("|")
    except (BackupError, AdminError, TransportError, subprocess.TimeoutExpired, ValueError) as exc:
        return [f"backups: unknown ({str(exc).splitlines()[0][:120]})"]
    now = time.time()
    lines = []
    for kind in ("full", "diff"):
        done = [b for b in stanza.get("backup", []) if b["type"] == kind]
        if done:
            age = _age(now - done[-1]["timestamp"]["stop"])
            lines.append(f"backups: last {kind} {done[-1]['label']}, {age} ago ({len(done)} kept)")
        else:
            lines.append(f"backups: no {kind} backup yet" + (" (make backup)" if kind == "full" else ""))
    archived, last_age, failing_since, last_failed, last_wal, current = archiver
    if last_age:
        lines.append(f"WAL archive: {archived} segments, last {_age(float(last_age))} ago")
        behind = unarchived_bytes(last_wal, current)
        if behind is not None:
            lines[-1] += f"; {_size(behind)} written since (not yet archived)"
    else:
        lines.append("WAL archive: nothing archived yet")
    if failing_since:  # failures before the last success (e.g. before the stanza existed) are history
        lines[-1] += f"; FAILING: {last_failed} not archived, last attempt {_age(float(failing_since))} ago"
        lines[-1] += " (archive-push errors in the leader's log)"
    return lines


SEGMENT_BYTES = 16 * 1024 * 1024  # PostgreSQL's default WAL segment size (initdb's --wal-segsize)


def unarchived_bytes(last_wal: str, current_lsn: str) -> int | None:
    """WAL bytes the primary wrote past the end of the last archived segment (None: not a segment name,
    e.g. a timeline history file right after a failover)."""
    if last_wal.endswith((".backup", ".partial")):
        last_wal = last_wal[:24]  # a backup's history file, or a former leader's last segment: its segment
    if len(last_wal) != 24 or not all(c in "0123456789ABCDEF" for c in last_wal):
        return None
    end = int(last_wal[8:16], 16) * 2**32 + (int(last_wal[16:24], 16) + 1) * SEGMENT_BYTES
    return max(0, lsn_value(current_lsn) - end)


# archived count | seconds since the last archived segment | seconds since the last failure if it came after
# the last success ('' otherwise) | last failed WAL | last archived WAL | the current write position.
_ARCHIVER_SQL = """SELECT archived_count,
  coalesce(extract(epoch FROM now() - last_archived_time)::int::text, ''),
  CASE WHEN last_failed_time > coalesce(last_archived_time, '-infinity')
       THEN extract(epoch FROM now() - last_failed_time)::int::text ELSE '' END,
  coalesce(last_failed_wal, ''), coalesce(last_archived_wal, ''), pg_current_wal_lsn()
FROM pg_stat_archiver"""


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
