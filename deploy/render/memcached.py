"""memcached command line for one cache node."""

from __future__ import annotations

from ..model.defaults import MEMCACHED
from ..model.topology import Node


def memcached_command(node: Node) -> list[str]:
    """argv for memcached in the foreground on the node's own address.

    ``-U 0`` turns UDP off (nothing uses it; it is an amplification risk). The process manager starts it
    as its own user, so no ``-u`` (which only a root start needs).
    """
    argv = [
        MEMCACHED,
        "-l", node.address,
        "-p", str(node.port),
        "-U", "0",
        "-m", str(node.opt("memory_mb")),
        "-c", str(node.opt("max_connections")),
        "-t", "2",
    ]  # fmt: skip
    return argv
