"""Where a TLS-terminating node's certificate lives. Pure: computes paths, issues nothing.

Internal TLS (production): etcd, Patroni's REST API and PostgreSQL serve ``<state>/tls/<node>.pem``,
issued by the cluster's CA, and their clients verify it against ``<state>/tls/ca.pem``.

A role that terminates TLS (lb, media) has a ``tls_cert`` key: the PEM file (certificate chain, then
its private key) the operator's ACME client or CA keeps current. Left empty, the certificate is
``<state>/tls/<node>.pem``, issued by the cluster's own local CA (deploy/commands/pki.py); a named
file that does not exist yet gets one from that CA too, so the node can start before ACME's first run.
"""

from __future__ import annotations

from pathlib import Path

from .paths import StatePaths
from .topology import Node, Topology

# The topology key of a TLS-terminating role that names its certificate file.
TLS_CERT_KEY = "tls_cert"


def cert_file(paths: StatePaths, node: Node) -> Path:
    """The node's certificate file (a control-plane node has no ``tls_cert`` key: its default one)."""
    named = node.options.get(TLS_CERT_KEY, "")
    return Path(named) if named else paths.tls / f"{node.name}.pem"


def internal_tls(topo: Topology) -> bool:
    """Control planes (etcd, Patroni's REST API) and PostgreSQL speak TLS in the production profile."""
    return topo.cluster.profile == "production"


def internal_cert_file(paths: StatePaths, node: Node) -> Path:
    """A control-plane node's certificate chain and key (one PEM, owned by its user), from the cluster CA."""
    return paths.tls / f"{node.name}.pem"
