"""cache: a memcached node; Django's cache and the sessions' fast path spread over all of them."""

from __future__ import annotations

from ..model.defaults import MEMCACHED
from ..model.topology import PORT, POSITIVE, REQUIRED, Node, RoleSchema
from ..model.units import Program
from ..render.memcached import memcached_command
from .base import Flow, Placement, RenderContext, Role
from .checks import listening


def _program(_ctx: RenderContext, node: Node) -> Program:
    return Program(name=node.name, role="cache", argv=tuple(memcached_command(node)))


_listening, _status = listening()


ROLE = Role(
    name="cache",
    summary="memcached: shared cache; a dead node is a miss, never an error",
    schema=RoleSchema(
        keys={
            "address": (str, REQUIRED),
            "port": (PORT, 11211),
            "memory_mb": (POSITIVE, 64),
            "max_connections": (POSITIVE, 1024),
        },
        managed=True,  # ElastiCache nodes by their DNS names
    ),
    priority=30,
    program=_program,
    status=_status,
    # ElastiCache on AWS (module "cache"): no instances of ours.
    terraform=Placement(host_group="cache", instances_in=(), debian_units=("memcached",)),
    ingress=(
        Flow("web", "port", "Django to memcached: cache and sessions"),
        Flow("worker", "port", "task workers invalidate cached pages"),
        Flow("queue", "port", "waiting room: queue snapshots, the admission pass's lock, sessions"),
    ),
    packages=("memcached",),
    binaries=(MEMCACHED,),
    # Started as this user (Debian's memcached brings it), so memcached never holds root.
    user="memcache",
    ready=_listening,
    ready_timeout_s=20.0,
)
