"""A host's inbound firewall (nftables) from the registry's security-group rows: default deny.

The same rows render Terraform's security groups (deploy/roles/terraform.py); here each row becomes an
accept rule on the hosts of its role, from the addresses of the source role's hosts, on the port the
receiving node really listens on. Public roles accept their main port (and TLS port) from anywhere; the operator reaches
every host on SSH. Pure: returns the ruleset text.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model.topology import Node, Topology
from ..render.templates import render
from . import role_of


@dataclass(frozen=True)
class Rule:
    sources: tuple[str, ...]
    port: int
    why: str


def rules_for(topo: Topology, node: Node) -> list[Rule]:
    out = []
    for flow in role_of(node).ingress:
        sources = tuple(n.address for n in topo.by_role(flow.source) if n.name != node.name)
        if not sources:
            continue  # e.g. no workers in this topology, or a role's only host reaching itself (over lo)
        port = node.port if flow.port_key == "port" else node.opt(flow.port_key)
        out.append(Rule(sources, port, f"{flow.source}: {flow.why}".replace('"', "'")))
    return out


def public_ports(node: Node) -> list[int]:
    role = role_of(node)
    if not role.terraform.public:
        return []
    return [node.port] + ([node.opt(role.tls.port_key)] if role.tls is not None else [])


def render_ruleset(topo: Topology, node: Node) -> str:
    return render(
        "deploy/templates/nftables.nft.j2",
        cluster=topo.cluster.name,
        node=node,
        ops=topo.fleet.ops_address,
        rules=rules_for(topo, node),
        public_ports=public_ports(node),
    )
