"""Where a TLS-terminating node's certificate lives. Pure: computes paths, issues nothing.

A role that terminates TLS (lb, media) has a ``tls_cert`` key: the PEM file (certificate chain, then
its private key) the operator's ACME client or CA keeps current. Left empty, the certificate is
``<state>/tls/<node>.pem``, issued by the cluster's own local CA (deploy/commands/pki.py); a named
file that does not exist yet gets one from that CA too, so the node can start before ACME's first run.
"""

from __future__ import annotations

from pathlib import Path

from .paths import StatePaths
from .topology import Node

# The topology key of a TLS-terminating role that names its certificate file.
TLS_CERT_KEY = "tls_cert"


def cert_file(paths: StatePaths, node: Node) -> Path:
    named = node.opt(TLS_CERT_KEY)
    return Path(named) if named else paths.tls / f"{node.name}.pem"
