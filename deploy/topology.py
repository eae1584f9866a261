"""The topology: one TOML file that names every node of a Tiers cluster.

This module is the single source of truth every renderer reads. It imports
nothing else from the project and does no I/O beyond reading the file it is
given. ``load(path)`` returns a validated, frozen :class:`Topology` or raises
:class:`TopologyError` with a message naming the file, the key and the fix.

File format (see ``deploy/topologies/local.toml`` for a complete example)::

    [cluster]            name, profile ("local" | "production")
    [database]           name, user, lag thresholds, Patroni timings
    [storage]            buckets, region, addressing style
    [lb.<name>]          exactly one: the HTTP load balancer
    [web.<name>]         one or more stateless Django/uWSGI nodes
    [db.<name>]          one role = "primary" and any number of role = "replica"
    [etcd.<name>]        one or more: Patroni's consensus store
    [dbproxy.<name>]     exactly one: HAProxy TCP endpoint following the primary
    [cache.<name>]       one or more memcached nodes
    [s3.<name>]          exactly one S3-compatible store (SeaweedFS locally)
    [media.<name>]       exactly one nginx media server
    [worker.<name>]      zero or more background-task workers
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROLES = ("lb", "web", "db", "etcd", "dbproxy", "cache", "s3", "media", "worker")
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
PROFILES = ("local", "production")


class TopologyError(ValueError):
    """A topology file is wrong. The message names the file, the key and the fix."""


@dataclass(frozen=True)
class Node:
    """One process-level node: a role, a name and where it listens.

    ``port`` is the node's main listening port (0 for roles that listen on
    nothing, such as workers). Role-specific settings live in ``options``;
    every option has a default filled in by the loader, so renderers can index
    ``node.options[...]`` without guarding.
    """

    role: str
    name: str
    address: str
    port: int
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"

    def opt(self, key: str) -> Any:
        return self.options[key]


@dataclass(frozen=True)
class Cluster:
    name: str
    profile: str


@dataclass(frozen=True)
class Database:
    name: str
    user: str
    max_replica_lag_bytes: int
    max_replica_lag_seconds: float
    patroni_ttl: int
    patroni_loop_wait: int
    patroni_retry_timeout: int
    synchronous_mode: bool


@dataclass(frozen=True)
class Storage:
    media_bucket: str
    static_bucket: str
    private_bucket: str
    region: str
    addressing_style: str
    endpoint_url: str


@dataclass(frozen=True)
class Topology:
    source: str
    cluster: Cluster
    database: Database
    storage: Storage
    nodes: tuple[Node, ...]

    def by_role(self, role: str) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.role == role)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        known = ", ".join(n.name for n in self.nodes)
        raise TopologyError(f"{self.source}: no node named {name!r} (nodes: {known})")

    def one(self, role: str) -> Node:
        return self.by_role(role)[0]

    @property
    def lb(self) -> Node:
        return self.one("lb")

    @property
    def web(self) -> tuple[Node, ...]:
        return self.by_role("web")

    @property
    def db(self) -> tuple[Node, ...]:
        return self.by_role("db")

    @property
    def primary(self) -> Node:
        """The node Patroni bootstraps as the first leader (it may not be the leader now)."""
        return next(n for n in self.db if n.opt("role") == "primary")

    @property
    def replicas(self) -> tuple[Node, ...]:
        return tuple(n for n in self.db if n.opt("role") == "replica")

    @property
    def etcd(self) -> tuple[Node, ...]:
        return self.by_role("etcd")

    @property
    def dbproxy(self) -> Node:
        return self.one("dbproxy")

    @property
    def cache(self) -> tuple[Node, ...]:
        return self.by_role("cache")

    @property
    def s3(self) -> Node:
        return self.one("s3")

    @property
    def media(self) -> Node:
        return self.one("media")

    @property
    def workers(self) -> tuple[Node, ...]:
        return self.by_role("worker")

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)


# --- schema -----------------------------------------------------------------
# For each role: key -> (type, default). A default of REQUIRED means the key must be given.
REQUIRED = object()

_PORT = "port"  # marker type for ports (int 1..65535)
_POS = "positive"  # marker type for integers >= 1

ROLE_SCHEMA: dict[str, dict[str, tuple[Any, Any]]] = {
    "lb": {
        "address": (str, REQUIRED),
        "port": (_PORT, 8080),
        "stats_port": (_PORT, 8404),
        "maxconn": (_POS, 4096),
        "timeout_queue_s": (_POS, 10),
        # The name clients use for the site (production: a DNS name in front of the LB); "" = its address.
        "public_host": (str, ""),
    },
    "web": {
        "address": (str, REQUIRED),
        "port": (_PORT, 8000),
        "processes": (_POS, 1),
        "threads": (_POS, 1),
        "harakiri_s": (_POS, 30),
        "max_requests": (_POS, 50000),
        "listen": (_POS, 64),
        "weight": (_POS, 100),
    },
    "db": {
        "address": (str, REQUIRED),
        "port": (_PORT, 5432),
        "rest_port": (_PORT, 8008),
        "role": (str, REQUIRED),
        "replica_of": (str, ""),
    },
    "etcd": {
        "address": (str, REQUIRED),
        "port": (_PORT, 2379),
        "peer_port": (_PORT, 2380),
    },
    "dbproxy": {
        "address": (str, REQUIRED),
        "port": (_PORT, 5432),
        "stats_port": (_PORT, 8405),
        "maxconn": (_POS, 200),
    },
    "cache": {
        "address": (str, REQUIRED),
        "port": (_PORT, 11211),
        "memory_mb": (_POS, 64),
        "max_connections": (_POS, 1024),
    },
    "s3": {
        "address": (str, REQUIRED),
        "port": (_PORT, 8333),
        # SeaweedFS also listens on 127.0.0.1 at these ports and at each port + 10000 (gRPC),
        # whatever its own address: two clusters on one machine need different values.
        "master_port": (_PORT, 9333),
        "volume_port": (_PORT, 9340),
        "filer_port": (_PORT, 8888),
    },
    "media": {
        "address": (str, REQUIRED),
        "port": (_PORT, 8080),
        "cache_size_mb": (_POS, 256),
        # The base URL browsers fetch media from (production: https://media.example.com); "" = http://address:port.
        "public_url": (str, ""),
    },
    "worker": {
        "address": (str, REQUIRED),
        "processes": (_POS, 1),
    },
}

SECTION_SCHEMA: dict[str, dict[str, tuple[Any, Any]]] = {
    "cluster": {
        "name": (str, REQUIRED),
        "profile": (str, "local"),
    },
    "database": {
        "name": (str, "tiers"),
        "user": (str, "tiers"),
        "max_replica_lag_bytes": (_POS, 1_048_576),
        "max_replica_lag_seconds": (float, 5.0),
        "patroni_ttl": (_POS, 20),
        "patroni_loop_wait": (_POS, 5),
        "patroni_retry_timeout": (_POS, 5),
        "synchronous_mode": (bool, False),
    },
    "storage": {
        "media_bucket": (str, "tiers-media"),
        "static_bucket": (str, "tiers-static"),
        # Ticket PDFs and unpublished originals: never anonymously readable (deploy/render/seaweed.py).
        "private_bucket": (str, "tiers-private"),
        "region": (str, "us-east-1"),
        "addressing_style": (str, "path"),
        "endpoint_url": (str, ""),
    },
}

# How many nodes of each role a topology may have: (min, max or None).
ROLE_COUNTS: dict[str, tuple[int, int | None]] = {
    "lb": (1, 1),
    "web": (1, None),
    "db": (1, None),
    "etcd": (1, None),
    "dbproxy": (1, 1),
    "cache": (1, None),
    "s3": (1, 1),
    "media": (1, 1),
    "worker": (0, None),
}

ROLE_HINT = {
    "web": 'add at least one [web.<name>] table, e.g. [web.web1] address = "127.0.1.1"',
    "db": 'add a [db.<name>] table with role = "primary"',
}


def _check_type(where: str, key: str, kind: Any, value: Any) -> Any:
    if kind is _PORT:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
            raise TopologyError(f"{where} {key}: must be a port number 1-65535, got {value!r}")
        return value
    if kind is _POS:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise TopologyError(f"{where} {key}: must be a whole number >= 1, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise TopologyError(f"{where} {key}: must be a number >= 0, got {value!r}")
        return float(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise TopologyError(f"{where} {key}: must be true or false, got {value!r}")
        return value
    if not isinstance(value, kind):
        raise TopologyError(f"{where} {key}: must be a {kind.__name__}, got {value!r}")
    return value


def _apply_schema(where: str, raw: Any, schema: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise TopologyError(f"{where}: must be a table, got {raw!r}")
    unknown = sorted(set(raw) - set(schema))
    if unknown:
        allowed = ", ".join(sorted(schema))
        raise TopologyError(f"{where}: unknown key {unknown[0]!r} (allowed: {allowed})")
    out: dict[str, Any] = {}
    for key, (kind, default) in schema.items():
        if key in raw:
            out[key] = _check_type(where, key, kind, raw[key])
        elif default is REQUIRED:
            raise TopologyError(f"{where}: missing required key {key!r}")
        else:
            out[key] = default
    return out


def _check_address(where: str, address: str) -> None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise TopologyError(
            f'{where} address: {address!r} is not an IP address (use e.g. "127.0.1.1")'
        ) from None
    if ip.is_unspecified:
        raise TopologyError(f"{where} address: {address!r} binds every interface; name one address")


def parse(data: dict[str, Any], source: str = "<topology>") -> Topology:
    """Validate already-parsed TOML data and build a :class:`Topology`."""
    allowed_top = set(SECTION_SCHEMA) | set(ROLES)
    unknown = sorted(set(data) - allowed_top)
    if unknown:
        raise TopologyError(
            f"{source}: unknown section [{unknown[0]}] (allowed: {', '.join(sorted(allowed_top))})"
        )
    if "cluster" not in data:
        raise TopologyError(f'{source}: missing [cluster] section (it needs at least name = "...")')

    sections = {
        name: _apply_schema(f"{source}: [{name}]", data.get(name, {}), schema)
        for name, schema in SECTION_SCHEMA.items()
    }
    cluster = Cluster(**sections["cluster"])
    if not NAME_RE.match(cluster.name):
        raise TopologyError(
            f"{source}: [cluster] name: {cluster.name!r} must be lowercase letters, digits and dashes"
        )
    if cluster.profile not in PROFILES:
        raise TopologyError(
            f"{source}: [cluster] profile: {cluster.profile!r} is not one of {', '.join(PROFILES)}"
        )
    storage = Storage(**sections["storage"])
    if storage.addressing_style not in ("path", "virtual", "auto"):
        raise TopologyError(
            f"{source}: [storage] addressing_style: {storage.addressing_style!r} "
            "must be path, virtual or auto"
        )

    nodes: list[Node] = []
    names: dict[str, str] = {}
    for role in ROLES:
        table = data.get(role, {})
        if not isinstance(table, dict):
            raise TopologyError(f"{source}: [{role}] must hold named tables like [{role}.<name>]")
        for name, raw in table.items():
            where = f"{source}: [{role}.{name}]"
            if not isinstance(raw, dict):
                raise TopologyError(
                    f"{where}: must be a table (write [{role}.<name>] with keys under it), got {raw!r}"
                )
            if not NAME_RE.match(name):
                raise TopologyError(f"{where}: node name must be lowercase letters, digits and dashes")
            if name in names:
                raise TopologyError(f"{where}: node name {name!r} is already used by [{names[name]}.{name}]")
            names[name] = role
            opts = _apply_schema(where, raw, ROLE_SCHEMA[role])
            _check_address(where, opts["address"])
            address = opts.pop("address")
            port = opts.pop("port", 0)
            nodes.append(Node(role=role, name=name, address=address, port=port, options=opts))

    for role, (low, high) in ROLE_COUNTS.items():
        count = sum(1 for n in nodes if n.role == role)
        if count < low:
            hint = ROLE_HINT.get(role, f"add a [{role}.<name>] table")
            raise TopologyError(f"{source}: [{role}] needs at least {low} node(s), found {count}: {hint}")
        if high is not None and count > high:
            raise TopologyError(f"{source}: [{role}] allows at most {high} node(s), found {count}")

    _check_database_roles(source, nodes)
    _check_listeners(source, nodes)
    _check_public_names(source, nodes)
    return Topology(
        source=source,
        cluster=cluster,
        database=Database(**sections["database"]),
        storage=storage,
        nodes=tuple(nodes),
    )


def _check_database_roles(source: str, nodes: list[Node]) -> None:
    dbs = [n for n in nodes if n.role == "db"]
    for n in dbs:
        if n.opt("role") not in ("primary", "replica"):
            raise TopologyError(
                f'{source}: [db.{n.name}] role: {n.opt("role")!r} must be "primary" or "replica"'
            )
    primaries = [n for n in dbs if n.opt("role") == "primary"]
    if not primaries:
        raise TopologyError(
            f'{source}: [db] no primary: set role = "primary" on exactly one [db.<name>] table'
        )
    if len(primaries) > 1:
        names = ", ".join(n.name for n in primaries)
        raise TopologyError(f'{source}: [db] more than one primary ({names}): keep role = "primary" on one')
    primary = primaries[0]
    for n in dbs:
        target = n.opt("replica_of")
        if n.opt("role") == "primary" and target:
            raise TopologyError(f"{source}: [db.{n.name}] replica_of: a primary is nobody's replica")
        if n.opt("role") == "replica" and target and target != primary.name:
            raise TopologyError(
                f"{source}: [db.{n.name}] replica_of: {target!r} is not the primary "
                f"(the primary is {primary.name!r})"
            )


HOST_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _check_public_names(source: str, nodes: list[Node]) -> None:
    for n in nodes:
        if n.role == "lb" and n.opt("public_host") and not HOST_RE.match(n.opt("public_host")):
            raise TopologyError(
                f"{source}: [lb.{n.name}] public_host: {n.opt('public_host')!r} is not a host name "
                '(write it without scheme or port, e.g. "shop.example.com")'
            )
        if n.role == "media" and n.opt("public_url"):
            url = n.opt("public_url")
            if not re.match(r"^https?://[^/\s]+/?$", url):
                raise TopologyError(
                    f"{source}: [media.{n.name}] public_url: {url!r} must be a scheme and host only, "
                    'e.g. "https://media.example.com"'
                )


def _listeners(node: Node) -> Iterator[tuple[str, int]]:
    if node.port:
        yield "port", node.port
    for key, (kind, _default) in ROLE_SCHEMA[node.role].items():
        if kind is _PORT and key != "port":
            yield key, node.opt(key)


def _check_listeners(source: str, nodes: list[Node]) -> None:
    seen: dict[tuple[str, int], str] = {}
    for n in nodes:
        for key, port in _listeners(n):
            at = (n.address, port)
            if at in seen:
                raise TopologyError(
                    f"{source}: [{n.role}.{n.name}] {key}: {n.address}:{port} is already used by "
                    f"{seen[at]}; give each listener its own address:port"
                )
            seen[at] = f"[{n.role}.{n.name}]"


def loads(text: str, source: str = "<topology>") -> Topology:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"{source}: not valid TOML: {exc}") from None
    return parse(data, source)


def load(path: str | Path) -> Topology:
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise TopologyError(f"{p}: no such topology file") from None
    return loads(text, str(p))
