"""The backup schedule: a sidecar of every DB node (`<node>-backups`; supervisord locally, a systemd service
in production), so it runs on every host that may lead.

Every minute each sidecar asks Patroni who leads; only the leader's own sidecar acts. It takes the backup
that is due by the repository's own record (a full when the newest full is older than ``full_every_h``, a
differential when the newest backup of any kind is older than ``diff_every_h``), so a restarted host or a
failover catches up at once instead of waiting for a calendar slot; and it records a backup mark every
``mark_every_min`` so a restore drill at a past TIME has a recent point to verify (restore_drill.py).

Run: ``python -m deploy.commands.backup_schedule <topology file> <state folder base> <node>``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from ..clients.transport import TransportError
from ..model.paths import StatePaths
from ..model.secrets import Secrets
from ..model.topology import Backup, Node
from ..render import marks
from ..roles import load
from . import backup, restore_drill
from .context import Cluster
from .places import Loopback
from .postgres import AdminError

TICK_S = 60.0


def due(backups: list[dict], now: float, schedule: Backup) -> str | None:
    """The backup type due at ``now`` given the repository's backups (oldest first), or None."""
    fulls = [b for b in backups if b["type"] == "full"]
    if not fulls or now - fulls[-1]["timestamp"]["stop"] >= schedule.full_every_h * 3600:
        return "full"
    if now - backups[-1]["timestamp"]["stop"] >= schedule.diff_every_h * 3600:
        return "diff"
    return None


def host_cluster(topology: Path, state_base: Path) -> Cluster:
    """The cluster as seen from this host: its own files and processes, the others over the network."""
    topo = load(topology)
    cluster = Cluster(topo, StatePaths.for_cluster(topo.cluster.name, state_base))
    # This host's view whatever the topology's place: commands run here, as on a loopback cluster.
    cluster.__dict__["place"] = Loopback(cluster)
    # Nothing here needs a secret (psql runs as the postgres OS user over the node's socket).
    cluster.__dict__["secrets"] = Secrets.none()
    return cluster


def tick(cluster: Cluster, node: Node, last_mark: float) -> float:
    """One round: take what is due and record a mark when this node leads; the time of the last mark."""
    if cluster.pg.leader() != node:
        return last_mark
    now = time.time()
    kind = due(backup.info(cluster, node).get("backup", []), now, cluster.topo.backup)
    if kind:
        # Another backup running (`make backup`): this one may not be due after it; the next round decides.
        backup.take(cluster, kind, wait=False)
        kept = backup.info(cluster, node).get("backup", [])
        if kept:  # retention expired older backups: marks before the oldest kept one are unreachable
            db = cluster.topo.database.name
            cluster.pg.psql(node, marks.prune_sql(kept[0]["timestamp"]["start"]), database=db)
    if kind or now - last_mark >= cluster.topo.backup.mark_every_min * 60:
        mark = restore_drill.record_mark(cluster, node)
        print(f"mark {mark.id} at {mark.at}", flush=True)
        return now
    return last_mark


def main(argv: list[str]) -> int:
    topology, state_base, name = argv
    cluster = host_cluster(Path(topology), Path(state_base))
    node = cluster.topo.node(name)
    print(f"backup schedule of {name}: acts while it leads ({cluster.topo.backup})", flush=True)
    last_mark = 0.0
    while True:
        try:
            last_mark = tick(cluster, node, last_mark)
        except (backup.BackupError, AdminError, TransportError, subprocess.TimeoutExpired, OSError) as exc:
            print(f"backup schedule: {exc}", file=sys.stderr, flush=True)
        time.sleep(TICK_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
