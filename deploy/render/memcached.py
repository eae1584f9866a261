"""memcached command line for one cache node."""

from __future__ import annotations

from ..model.defaults import MEMCACHED
from ..model.topology import Node


def memcached_command(node: Node, run_as: str | None = "memcache") -> list[str]:
    """argv for memcached in the foreground on the node's own address.

    ``-U 0`` turns UDP off (nothing uses it; it is an amplification risk), ``-u`` is required
    when started as root.
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
    if run_as:
        argv += ["-u", run_as]
    return argv
