"""The role registry: every role's declaration, in start order, and the topology bound to them.

Adding a role is its module here (one :class:`~deploy.roles.base.Role`), its template(s), its tables
in the topology files and Terraform, and its tests: docs/ARCHITECTURE.md walks through it.
tests/unit/test_roles_complete.py fails when a declaration or a Terraform counterpart is missing.
"""

from __future__ import annotations

from pathlib import Path

from ..model import topology as _model
from ..model.topology import Node, RoleSchema, Topology
from . import cache, db, dbproxy, etcd, lb, media, pgbouncer, queue, s3, web, worker
from .base import Role

# The order topology files list roles in and `up` starts them in (see each role's priority).
REGISTRY: tuple[Role, ...] = (
    lb.ROLE,
    web.ROLE,
    queue.ROLE,
    db.ROLE,
    etcd.ROLE,
    dbproxy.ROLE,
    pgbouncer.ROLE,
    cache.ROLE,
    s3.ROLE,
    media.ROLE,
    worker.ROLE,
)
ROLES: dict[str, Role] = {r.name: r for r in REGISTRY}
SCHEMAS: dict[str, RoleSchema] = {r.name: r.schema for r in REGISTRY}


def role_of(node: Node) -> Role:
    return ROLES[node.role]


def live_followers(topo: Topology) -> list[Node]:
    """The nodes that run the live release rather than one of their own (Role.follows_live)."""
    return [n for n in topo if role_of(n).follows_live]


def app_readers(topo: Topology) -> list[Node]:
    """The nodes whose configs follow the live release's declaration (Role.reads_app)."""
    return [n for n in topo if role_of(n).reads_app]


def by_priority() -> list[Role]:
    return sorted(REGISTRY, key=lambda r: r.priority)


def loads(text: str, source: str = "<topology>") -> Topology:
    return _model.loads(text, SCHEMAS, source)


def load(path: str | Path) -> Topology:
    return _model.load(path, SCHEMAS)
