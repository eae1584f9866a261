"""Who is asking: the client address a web node should believe. Pure, no Django set up."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(name: str, value: str) -> tuple[Network, ...]:
    """'10.0.0.0/8, 127.0.0.1' -> networks; ValueError naming ``name`` and the bad item."""
    networks: list[Network] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{name}: {item!r} is not an address or network (e.g. 10.0.0.0/8)") from None
    return tuple(networks)


def in_networks(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def address_from(remote_addr: str, forwarded_for: str | None, trusted: Iterable[Network]) -> str:
    """The client's address: REMOTE_ADDR, unless that is a trusted proxy (the load balancer).

    HAProxy drops whatever X-Forwarded-For a client sends and appends the address it saw, so behind it
    the header's last entry is the client. A request from anywhere else (a direct connection to the
    node) gets its own REMOTE_ADDR: its X-Forwarded-For is a claim, not a fact.
    """
    if forwarded_for and in_networks(remote_addr, trusted):
        last = forwarded_for.rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return remote_addr
    return remote_addr
