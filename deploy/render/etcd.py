"""The etcd command line of one consensus node (Patroni's DCS, v3 API).

Debian's etcd-server 3.4 at ``/usr/bin/etcd``; it needs no environment variables
(everything is a flag, so ``ps`` shows the whole configuration). It runs as root
under supervisord; its data dir is ``paths.data(<node>)`` (etcd creates it, 0700).
Flags that form the cluster (``--initial-*``) only matter on the first start:
with an existing data dir etcd rejoins with what it stored.
"""

from __future__ import annotations

from ..model.defaults import ETCD
from ..model.paths import StatePaths
from ..model.topology import Node, Topology


def client_url(node: Node) -> str:
    return f"http://{node.address}:{node.port}"


def peer_url(node: Node) -> str:
    return f"http://{node.address}:{node.opt('peer_port')}"


def cluster_token(topo: Topology) -> str:
    """Distinct per cluster, so members of a test cluster can never join a `make up` one."""
    return f"tiers-{topo.cluster.name}-etcd"


def etcd_command(topo: Topology, node: Node, paths: StatePaths) -> list[str]:
    """argv for ``/usr/bin/etcd`` on etcd node ``node``."""
    if node.role != "etcd":
        raise ValueError(f"{node.name} is a {node.role} node, not an etcd node")
    initial = ",".join(f"{e.name}={peer_url(e)}" for e in topo.by_role("etcd"))
    return [
        ETCD,
        f"--name={node.name}",
        f"--data-dir={paths.data(node.name)}",
        f"--listen-client-urls={client_url(node)}",
        f"--advertise-client-urls={client_url(node)}",
        f"--listen-peer-urls={peer_url(node)}",
        f"--initial-advertise-peer-urls={peer_url(node)}",
        f"--initial-cluster={initial}",
        "--initial-cluster-state=new",
        f"--initial-cluster-token={cluster_token(topo)}",
        # Patroni rewrites its leader key every loop: compact history hourly so the db stays small.
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=1h",
        # Structured logger to stderr (supervisord's log file); 3.4's default logger is deprecated.
        "--logger=zap",
        "--log-outputs=stderr",
    ]
