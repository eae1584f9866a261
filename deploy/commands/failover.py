"""`make failover`: a planned switchover of the primary to a replica, through Patroni.

Patroni demotes the leader cleanly (its last WAL reaches the candidate first), promotes the candidate,
and dbproxy's `/primary` check follows within about two check intervals. The command waits until writes
work again through dbproxy and reports how long they did not.
"""

from __future__ import annotations

import time

from ..clients import probes
from ..model.topology import Node
from ..roles.db import ctl_config_path
from .context import Cluster
from .postgres import synchronous_settings
from .progress import Progress
from .state import ClusterError


def choose_candidate(
    db_nodes: list[Node],
    leader: str,
    wanted: str | None,
    streaming: set[str],
    sync: frozenset[str] = frozenset(),
) -> Node:
    """The replica to promote: ``wanted`` if given (and valid), else the first synchronous standby, else the
    first streaming replica."""
    names = {n.name: n for n in db_nodes}
    if wanted:
        if wanted not in names:
            raise ClusterError(f"--to {wanted}: no such DB node (DB nodes: {', '.join(names)})")
        if wanted == leader:
            raise ClusterError(f"--to {wanted}: it is already the leader")
        if wanted not in streaming:
            raise ClusterError(f"--to {wanted}: it is not a streaming replica; see `make status`")
        return names[wanted]
    for preferred in (sync & streaming, streaming):
        for node in db_nodes:
            if node.name != leader and node.name in preferred:
                return node
    raise ClusterError("no streaming replica to fail over to; see `make status`")


def failover(cluster: Cluster, to: str | None = None) -> Node:
    progress = Progress(f"Switchover of cluster {cluster.topo.cluster.name!r}")
    pg = cluster.pg
    leader = pg.leader()
    if leader is None:
        raise ClusterError("no Patroni leader right now: nothing to switch over; see `make status`")
    synchronous = cluster.topo.database.synchronous_mode
    # Patroni refuses to promote anything but a synchronous standby: read them once they are settled.
    sync = (
        probes.wait_for(pg.settled_sync_standbys, "the synchronous standby", 60)
        if synchronous
        else frozenset()
    )
    candidate = choose_candidate(
        list(cluster.topo.by_role("db")), leader.name, to, pg.streaming_replicas(), sync
    )
    progress.say(f"leader {leader.name} -> candidate {candidate.name}")
    widened = bool(sync) and candidate.name not in sync
    if widened:
        _make_synchronous(cluster, progress, candidate)
    try:
        new_leader = _switchover(cluster, progress, leader, candidate)
    finally:
        if widened:
            pg.set_dcs(synchronous_settings(cluster.topo))
    if synchronous:
        with progress.step("waiting for the new leader's synchronous standby"):
            probes.wait_for(pg.settled_sync_standbys, "a settled synchronous standby", 60)
    return new_leader


def _switchover(cluster: Cluster, progress: Progress, leader: Node, candidate: Node) -> Node:
    pg = cluster.pg
    began = time.monotonic()
    with progress.step("patronictl switchover"):
        # On the leader's host: patronictl talks to etcd, which only DB hosts may reach.
        paths = cluster.place.host_paths(leader)
        argv = [str(paths.venv / "bin" / "patronictl"), "-c", str(ctl_config_path(paths)), "switchover",
                "--leader", leader.name, "--candidate", candidate.name, "--force"]  # fmt: skip
        out = cluster.place.transport(leader).run(argv, timeout=120, check=False)
        if out.returncode != 0:
            raise ClusterError(f"patronictl switchover failed: {(out.stderr or out.stdout).strip()[-1000:]}")
    with progress.step(f"waiting for {candidate.name} to lead and dbproxy to reach it"):
        probes.wait_for(lambda: (n := pg.leader()) is not None and n.name == candidate.name,
                        f"{candidate.name} to become the leader", 60)  # fmt: skip
        probes.wait_for(pg.dbproxy_reaches_primary, "dbproxy to reach the new primary", 30)
    progress.say(
        f"writes go to {candidate.name} again, {time.monotonic() - began:.1f}s after the switchover began"
    )
    with progress.step(f"waiting for {leader.name} to stream from {candidate.name}"):
        probes.wait_for(
            lambda: pg.streaming_count() >= len(cluster.topo.by_role("db")) - 1, "replicas streaming", 90
        )
    return candidate


def _make_synchronous(cluster: Cluster, progress: Progress, candidate: Node) -> None:
    """In synchronous mode Patroni promotes only a synchronous standby (any other could lack acknowledged
    commits): every replica becomes one until the switchover is done (then the topology's count is back)."""
    pg, replicas = cluster.pg, len(cluster.topo.by_role("db")) - 1
    with progress.step(f"making {candidate.name} a synchronous standby first"):
        pg.set_dcs({"synchronous_node_count": str(replicas)})
        probes.wait_for(lambda: candidate.name in pg.sync_standbys(), f"{candidate.name} synchronous", 60)
