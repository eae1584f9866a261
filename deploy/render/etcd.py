"""The etcd command line of one consensus node (Patroni's DCS, v3 API), and its authentication setup.

Debian's etcd-server 3.4 at ``/usr/bin/etcd``; it needs no environment variables
(everything is a flag, so ``ps`` shows the whole configuration, and no secret is among them). It runs
as the OS user etcd; its data dir is ``paths.data(<node>)`` (0700). Flags that form the cluster
(``--initial-*``) only matter on the first start: with an existing data dir etcd rejoins with what it
stored. Authentication is not a flag but state in etcd itself: :func:`auth_setup` turns it on once.
In the production profile clients and peers speak TLS (certificates from the cluster's CA).
"""

from __future__ import annotations

from ..model.defaults import ETCD, ETCDCTL
from ..model.paths import StatePaths
from ..model.secrets import Secrets
from ..model.tls import internal_cert_file, internal_tls
from ..model.topology import Node, Topology
from ..model.units import Command

# Patroni's keys: <namespace><scope>/ (render/patroni.py). The patroni etcd user may use only these.
NAMESPACE = "/tiers/"
PATRONI_ETCD_USER = "patroni"


def _scheme(topo: Topology) -> str:
    return "https" if internal_tls(topo) else "http"


def client_url(topo: Topology, node: Node) -> str:
    return f"{_scheme(topo)}://{node.address}:{node.port}"


def peer_url(topo: Topology, node: Node) -> str:
    return f"{_scheme(topo)}://{node.address}:{node.opt('peer_port')}"


def cluster_token(topo: Topology) -> str:
    """Distinct per cluster, so members of a test cluster can never join a `make up` one."""
    return f"tiers-{topo.cluster.name}-etcd"


def patroni_prefix(topo: Topology) -> str:
    return f"{NAMESPACE}{topo.cluster.name}/"


def etcd_command(topo: Topology, node: Node, paths: StatePaths) -> list[str]:
    """argv for ``/usr/bin/etcd`` on etcd node ``node``."""
    if node.role != "etcd":
        raise ValueError(f"{node.name} is a {node.role} node, not an etcd node")
    initial = ",".join(f"{e.name}={peer_url(topo, e)}" for e in topo.by_role("etcd"))
    argv = [
        ETCD,
        f"--name={node.name}",
        f"--data-dir={paths.data(node.name)}",
        f"--listen-client-urls={client_url(topo, node)}",
        f"--advertise-client-urls={client_url(topo, node)}",
        f"--listen-peer-urls={peer_url(topo, node)}",
        f"--initial-advertise-peer-urls={peer_url(topo, node)}",
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
    if internal_tls(topo):
        # One PEM holds the chain and the key. Peers must present a certificate from the cluster CA; clients
        # (Patroni, etcdctl) log in with a password instead (a --trusted-ca-file would demand theirs too).
        pem, ca = str(internal_cert_file(paths, node)), str(paths.ca_cert)
        argv += [
            f"--cert-file={pem}",
            f"--key-file={pem}",
            f"--peer-cert-file={pem}",
            f"--peer-key-file={pem}",
            f"--peer-trusted-ca-file={ca}",
            "--peer-client-cert-auth",
        ]
    return argv


def auth_setup(topo: Topology, node: Node, paths: StatePaths, secrets: Secrets) -> list[Command]:
    """Turn etcd's authentication on (idempotently): root, and a patroni user limited to its prefix.

    Runs db/etcd_auth.sh on an etcd host; the passwords go to it on stdin, not on its command line.
    """
    endpoints = ",".join(client_url(topo, e) for e in topo.by_role("etcd"))
    argv = [str(paths.repo / "db" / "etcd_auth.sh"), ETCDCTL, endpoints, patroni_prefix(topo)]
    if internal_tls(topo):
        argv.append(str(paths.ca_cert))
    return [Command(tuple(argv), f"{secrets.etcd_root_password}\n{secrets.etcd_patroni_password}\n")]
