"""Crash the primary under purchases and account for every acknowledged order.

Shared by tests/integration/test_durability.py and tests/integration/scripts/failover_gap.py (the write-gap
measurement). Loopback clusters only: stalled WAL receivers are found through this machine's /proc.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from deploy.clients.procs import child_map
from deploy.commands.context import Cluster
from deploy.model.topology import Node
from deploy.roles.db import postmaster_pid
from tests.conftest import deploy_cli
from tests.integration.client import BoxOffice
from tests.integration.helpers import lb, wait_until


@dataclass
class Purchases:
    """Buyers purchasing one ticket at a time until stopped; what each attempt got, and when."""

    acknowledged: list[int] = field(default_factory=list)
    # (monotonic time the response came, status); 0 = no response (connection error, timeout).
    attempts: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, cluster: Cluster, event_id: int, buyers: int = 2) -> Purchases:
        lock = threading.Lock()

        def loop(user: str) -> None:
            bo = BoxOffice(lb(cluster)).login(user, user)
            while not self.stop.is_set():
                try:
                    r = bo.buy(event_id, 1)
                    status = r.status_code
                    order = r.json().get("id") if status == 201 else None
                except Exception:  # a dropped connection counts as a failed attempt, not a test error
                    status, order = 0, None
                with lock:
                    self.attempts.append((time.monotonic(), status))
                    if order is not None:
                        self.acknowledged.append(order)
                time.sleep(0.02)

        self.threads = [threading.Thread(target=loop, args=(u,)) for u in ("demo", "demo2")[:buyers]]
        for t in self.threads:
            t.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def last_success_before(self, moment: float) -> float:
        return max(t for t, s in self.attempts if s == 201 and t <= moment)

    def first_success_after(self, moment: float) -> float | None:
        later = [t for t, s in self.attempts if s == 201 and t > moment]
        return min(later) if later else None


def kill_leader(cluster: Cluster) -> tuple[Node, float]:
    """kill -9 of the leader's Patroni and PostgreSQL; (the node, when)."""
    leader = cluster.pg.leader()
    assert leader is not None, "no Patroni leader"
    deploy_cli("kill", leader.name)
    return leader, time.monotonic()


def postgres_children(cluster: Cluster, node: Node, marker: bytes = b"") -> list[int]:
    """The processes a node's postmaster started whose command line holds ``marker`` (this machine's /proc)."""
    children = child_map()
    found = []
    for pid in (c for p in postmaster_pid(cluster.paths, node) for c in children.get(p, [])):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # exited meanwhile
        if marker in cmdline:
            found.append(pid)
    return found


def walreceivers(cluster: Cluster, node: Node) -> list[int]:
    """The WAL receiver processes of a replica's postmaster."""
    return postgres_children(cluster, node, b"walreceiver")


def postgres_processes(cluster: Cluster, node: Node) -> list[int]:
    """A node's whole PostgreSQL: its postmaster and every process it started (to hang it with ``stall``)."""
    return [*postmaster_pid(cluster.paths, node), *postgres_children(cluster, node)]


def orders_stored(cluster: Cluster, ids: list[int]) -> dict[int, int]:
    """How many rows each order id has on the current leader."""
    leader = cluster.pg.leader()
    assert leader is not None, "no Patroni leader"
    if not ids:
        return {}
    sql = (
        f"SELECT o.id, count(*) FROM unnest(ARRAY[{','.join(map(str, ids))}]::bigint[]) AS o(id) "
        "JOIN boxoffice_order b ON b.id = o.id GROUP BY o.id"
    )
    rows = cluster.pg.psql(leader, sql, database=cluster.topo.database.name, timeout=30)
    counts = dict.fromkeys(ids, 0)
    for line in rows.splitlines():
        oid, n = line.split("|")
        counts[int(oid)] = int(n)
    return counts


def rejoin(cluster: Cluster, node: Node) -> None:
    """Start a killed DB node again and wait until every replica streams (it rewinds and follows)."""
    deploy_cli("start", node.name)
    replicas = len(cluster.topo.by_role("db")) - 1
    wait_until(lambda: cluster.pg.streaming_count() == replicas, "every replica streaming again", 120, 1.0)
    if cluster.topo.database.synchronous_mode:
        wait_until(lambda: bool(cluster.pg.settled_sync_standbys()), "a synchronous standby again", 60, 1.0)


def stall(pids: list[int]) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)


def release(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
