"""The topology: one TOML file that names every node of a Tiers cluster.

The model knows the file's shape, not the roles: each role's keys, defaults, node
counts and cross-node checks come from its :class:`RoleSchema`, declared in the
role's own module (``deploy/roles/``) and passed to :func:`parse`. This module
imports nothing else from the project and does no I/O beyond reading the file it
is given. ``deploy.roles.load(path)`` binds the registry's schemas and returns a
validated, frozen :class:`Topology` or raises :class:`TopologyError` with a
message naming the file, the key and the fix.

File format (see ``deploy/topologies/local.toml`` for a complete example)::

    [cluster]            name, profile ("local" | "production")
    [database]           name, user, lag thresholds, Patroni timings
    [storage]            buckets, region, addressing style
    [backup]             backup schedule, retention, WAL archive timeout
    [<role>.<name>]      one table per node of a role (deploy/roles/<role>.py says which
                         keys, how many nodes and what else must hold)
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
PROFILES = ("local", "production")

# Value kinds of a schema besides Python types: a port (int 1..65535) and a whole number >= 1.
PORT = "port"
POSITIVE = "positive"
# The default of a key that must be given.
REQUIRED = object()

Schema = dict[str, tuple[Any, Any]]  # key -> (kind, default)


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
    # A managed service's endpoint (RDS, ElastiCache, S3): nothing of ours runs there, and its address
    # may be a DNS name (the provider moves it between machines).
    managed: bool = field(default=False, compare=False)

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"

    def opt(self, key: str) -> Any:
        return self.options[key]


@dataclass(frozen=True)
class RoleSchema:
    """What the topology file may say about one role's nodes.

    ``keys``: key -> (kind, default), ``address`` included; ``count``: (min, max or None) nodes;
    ``hint``: how to fix too few nodes; ``validate(source, nodes)``: checks across the role's nodes
    (raise :class:`TopologyError`). ``managed``: a node may be a managed service's endpoint
    (``managed = true``, a DNS name allowed as its address); ``needed_by``: the role this one serves,
    which needs none of it when every node of that role is managed (etcd for RDS instead of Patroni).
    """

    keys: Schema
    count: tuple[int, int | None] = (1, None)
    hint: str = ""
    validate: Callable[[str, tuple[Node, ...]], None] | None = None
    managed: bool = False
    needed_by: str = ""

    def listener_keys(self) -> tuple[str, ...]:
        """Every key holding a port this role listens on, the main ``port`` first."""
        ports = [k for k, (kind, _d) in self.keys.items() if kind is PORT]
        return tuple(sorted(ports, key=lambda k: k != "port"))


# Where a topology's nodes run (BRIEF section 9): every node on its own loopback address of this machine,
# or every node its own rehearsal host (network + mount namespaces here, reached over SSH).
HOSTS = ("loopback", "fleet")


@dataclass(frozen=True)
class ClusterSettings:
    name: str
    profile: str
    hosts: str


@dataclass(frozen=True)
class Fleet:
    """The rehearsal fleet's private network (used when [cluster] hosts = "fleet")."""

    network: str
    internet_address: str
    ops_address: str


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
    synchronous_mode_strict: bool
    synchronous_node_count: int
    # Networks the database admits clients from (pg_hba), e.g. the private subnets on AWS, so a new web
    # or worker node is admitted without a change on the database nodes; empty: each node's own address.
    client_networks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Backup:
    """pgBackRest's schedule and retention (docs/DATABASE.md "Backups")."""

    full_every_h: int
    diff_every_h: int
    retention_full: int
    retention_diff: int
    archive_timeout_s: int
    mark_every_min: int


@dataclass(frozen=True)
class Storage:
    media_bucket: str
    static_bucket: str
    private_bucket: str
    backup_bucket: str
    region: str
    addressing_style: str
    endpoint_url: str


@dataclass(frozen=True)
class Email:
    """Outgoing mail of web and worker nodes: an SMTP relay; no host = the console (local only)."""

    host: str
    port: int
    user: str
    use_tls: bool
    from_address: str


@dataclass(frozen=True)
class Topology:
    source: str
    cluster: ClusterSettings
    database: Database
    storage: Storage
    email: Email
    fleet: Fleet
    nodes: tuple[Node, ...]
    backup: Backup

    def by_role(self, role: str) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.role == role)

    def managed(self) -> tuple[Node, ...]:
        """The managed services' endpoints: nothing of ours runs or is installed there."""
        return tuple(n for n in self.nodes if n.managed)

    def one(self, role: str) -> Node:
        """The node of a role that has exactly one (its schema's count says so)."""
        return self.by_role(role)[0]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        known = ", ".join(n.name for n in self.nodes)
        raise TopologyError(f"{self.source}: no node named {name!r} (nodes: {known})")

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)


SECTION_SCHEMA: dict[str, Schema] = {
    "cluster": {
        "name": (str, REQUIRED),
        "profile": (str, "local"),
        "hosts": (str, "loopback"),
    },
    "fleet": {
        # A private network that exists only inside the fleet's namespaces (no route out).
        "network": (str, "10.231.0.0/24"),
        # Outside clients (what the internet may reach) and the operator (SSH to every host).
        "internet_address": (str, "10.231.0.250"),
        "ops_address": (str, "10.231.0.251"),
    },
    "database": {
        "name": (str, "tiers"),
        "user": (str, "tiers"),
        "max_replica_lag_bytes": (POSITIVE, 1_048_576),
        "max_replica_lag_seconds": (float, 5.0),
        "patroni_ttl": (POSITIVE, 20),
        "patroni_loop_wait": (POSITIVE, 5),
        "patroni_retry_timeout": (POSITIVE, 5),
        # A commit waits for a synchronous replica: a failover loses no acknowledged write (docs/DATABASE.md).
        "synchronous_mode": (bool, True),
        # false: with no replica left the primary goes on alone (available); true: commits wait (durable).
        "synchronous_mode_strict": (bool, False),
        # How many replicas confirm each commit (Patroni's synchronous_node_count).
        "synchronous_node_count": (POSITIVE, 1),
        "client_networks": (list, []),
    },
    "storage": {
        "media_bucket": (str, "tiers-media"),
        "static_bucket": (str, "tiers-static"),
        # Ticket PDFs and unpublished originals: never anonymously readable (deploy/render/seaweed.py).
        "private_bucket": (str, "tiers-private"),
        # pgBackRest's repository (base backups and archived WAL): only the DB tier's key reaches it.
        "backup_bucket": (str, "tiers-backup"),
        "region": (str, "us-east-1"),
        "addressing_style": (str, "path"),
        "endpoint_url": (str, ""),
    },
    "backup": {
        # A full backup when the newest is older than this; a differential (changes since that full) when
        # the newest backup of any type is older than diff_every_h.
        "full_every_h": (POSITIVE, 168),
        "diff_every_h": (POSITIVE, 24),
        # Full backups kept (with the WAL needed to restore them to any point); differentials kept per full.
        "retention_full": (POSITIVE, 2),
        "retention_diff": (POSITIVE, 6),
        # PostgreSQL switches to a new WAL segment at least this often when there were writes, so the
        # archive lags the primary by at most about this much (the recovery point objective).
        "archive_timeout_s": (POSITIVE, 60),
        # The schedule records what the primary holds this often: the points a restore drill can verify.
        "mark_every_min": (POSITIVE, 10),
    },
    "email": {
        # The SMTP relay (e.g. Amazon SES's SMTP endpoint); "" = the console backend, which the
        # production profile refuses (a system check error: app/guard/checks.py). Its password is
        # EMAIL_HOST_PASSWORD in the node's environment.
        "host": (str, ""),
        "port": (PORT, 587),
        "user": (str, ""),
        "use_tls": (bool, True),
        "from_address": (str, "tickets@tiers.invalid"),
    },
}


def _check_type(where: str, key: str, kind: Any, value: Any) -> Any:
    if kind is PORT:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
            raise TopologyError(f"{where} {key}: must be a port number 1-65535, got {value!r}")
        return value
    if kind is POSITIVE:
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


def _apply_schema(where: str, raw: Any, schema: Schema) -> dict[str, Any]:
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


def _check_address(where: str, address: str, managed: bool, may_be_managed: bool) -> None:
    if managed and HOST_RE.match(address) and not address.replace(".", "").isdigit():
        return  # a managed service's DNS name (RDS, ElastiCache, S3)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        hint = (
            "; a managed service's endpoint may be a DNS name: add managed = true"
            if may_be_managed and not managed
            else ""
        )
        raise TopologyError(
            f'{where} address: {address!r} is not an IP address (use e.g. "127.0.1.1"){hint}'
        ) from None
    if ip.is_unspecified:
        raise TopologyError(f"{where} address: {address!r} binds every interface; name one address")


def parse(data: dict[str, Any], roles: Mapping[str, RoleSchema], source: str = "<topology>") -> Topology:
    """Validate already-parsed TOML data against the sections and ``roles`` (name -> schema, in order)."""
    allowed_top = set(SECTION_SCHEMA) | set(roles)
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
    cluster = ClusterSettings(**sections["cluster"])
    database = _database(source, sections["database"])
    if not NAME_RE.match(cluster.name):
        raise TopologyError(
            f"{source}: [cluster] name: {cluster.name!r} must be lowercase letters, digits and dashes"
        )
    if cluster.profile not in PROFILES:
        raise TopologyError(
            f"{source}: [cluster] profile: {cluster.profile!r} is not one of {', '.join(PROFILES)}"
        )
    if cluster.hosts not in HOSTS:
        raise TopologyError(f"{source}: [cluster] hosts: {cluster.hosts!r} is not one of {', '.join(HOSTS)}")
    storage = Storage(**sections["storage"])
    if storage.addressing_style not in ("path", "virtual", "auto"):
        raise TopologyError(
            f"{source}: [storage] addressing_style: {storage.addressing_style!r} "
            "must be path, virtual or auto"
        )

    nodes: list[Node] = []
    names: dict[str, str] = {}
    for role, schema in roles.items():
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
            keys = {**schema.keys, "managed": (bool, False)} if schema.managed else schema.keys
            opts = _apply_schema(where, raw, keys)
            managed = bool(opts.pop("managed", False))
            _check_address(where, opts["address"], managed, schema.managed)
            address = opts.pop("address")
            port = opts.pop("port", 0)
            nodes.append(Node(role, name, address, port, options=opts, managed=managed))

    for role, schema in roles.items():
        mine = tuple(n for n in nodes if n.role == role)
        low, high = schema.count
        served = [n for n in nodes if n.role == schema.needed_by]
        if schema.needed_by and served and all(n.managed for n in served):
            low = 0  # e.g. no etcd when the database is a managed service
        if len(mine) < low:
            hint = schema.hint or f"add a [{role}.<name>] table"
            raise TopologyError(f"{source}: [{role}] needs at least {low} node(s), found {len(mine)}: {hint}")
        if high is not None and len(mine) > high:
            raise TopologyError(f"{source}: [{role}] allows at most {high} node(s), found {len(mine)}")
        if schema.validate is not None:
            schema.validate(source, mine)

    _check_listeners(source, nodes, roles)
    fleet = Fleet(**sections["fleet"])
    if cluster.hosts == "fleet":
        _check_fleet(source, fleet, nodes)
    return Topology(
        source=source,
        cluster=cluster,
        database=database,
        storage=storage,
        email=Email(**sections["email"]),
        fleet=fleet,
        nodes=tuple(nodes),
        backup=Backup(**sections["backup"]),
    )


def _database(source: str, values: dict[str, Any]) -> Database:
    networks = []
    for cidr in values.pop("client_networks"):
        try:
            networks.append(str(ipaddress.ip_network(cidr)))
        except (TypeError, ValueError):
            raise TopologyError(
                f"{source}: [database] client_networks: {cidr!r} is not a network "
                '(e.g. "10.40.128.0/20", host bits zero)'
            ) from None
    database = Database(**values, client_networks=tuple(networks))
    _check_patroni_timings(source, database)
    return database


# Patroni 4 raises a smaller ttl to this, silently: a topology asking for less would not get it.
PATRONI_MIN_TTL = 20


def _check_patroni_timings(source: str, db: Database) -> None:
    """Patroni's own rule: a leader must be able to renew its lock within ttl, one loop and two retries
    included (loop_wait + 2 x retry_timeout <= ttl); otherwise a slow DCS demotes a healthy primary."""
    where = f"{source}: [database]"
    if db.patroni_ttl < PATRONI_MIN_TTL:
        raise TopologyError(
            f"{where} patroni_ttl = {db.patroni_ttl}: Patroni 4 takes at least {PATRONI_MIN_TTL} (it raises a "
            f"smaller value), so the failover timing would not be the one written here"
        )
    needed = db.patroni_loop_wait + 2 * db.patroni_retry_timeout
    if needed > db.patroni_ttl:
        raise TopologyError(
            f"{where} patroni_loop_wait ({db.patroni_loop_wait}) + 2 x patroni_retry_timeout "
            f"({db.patroni_retry_timeout}) = {needed} must be <= patroni_ttl ({db.patroni_ttl}): Patroni's rule "
            f"(the leader renews its lock within ttl, one loop and two retries included). E.g. ttl 20, "
            f"loop_wait 5, retry_timeout 5"
        )


def _check_fleet(source: str, fleet: Fleet, nodes: list[Node]) -> None:
    try:
        network = ipaddress.ip_network(fleet.network)
    except ValueError:
        raise TopologyError(
            f'{source}: [fleet] network: {fleet.network!r} is not a network (e.g. "10.231.0.0/24")'
        ) from None
    seen: dict[str, str] = {}
    named = [("[fleet] internet_address", fleet.internet_address), ("[fleet] ops_address", fleet.ops_address)]
    named += [(f"[{n.role}.{n.name}] address", n.address) for n in nodes]
    for where, address in named:
        if ipaddress.ip_address(address) not in network:
            raise TopologyError(f"{source}: {where}: {address} is outside the fleet network {network}")
        if address in seen:
            raise TopologyError(
                f"{source}: {where}: {address} is already {seen[address]}'s; every fleet host has its own address"
            )
        seen[address] = where


HOST_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _check_listeners(source: str, nodes: list[Node], roles: Mapping[str, RoleSchema]) -> None:
    seen: dict[tuple[str, int], str] = {}
    for n in nodes:
        if n.managed:
            continue  # a managed endpoint may stand for another (RDS: dbproxy is the writer, db1)
        for key in roles[n.role].listener_keys():
            port = n.port if key == "port" else n.opt(key)
            at = (n.address, port)
            if at in seen:
                raise TopologyError(
                    f"{source}: [{n.role}.{n.name}] {key}: {n.address}:{port} is already used by "
                    f"{seen[at]}; give each listener its own address:port"
                )
            seen[at] = f"[{n.role}.{n.name}]"


def loads(text: str, roles: Mapping[str, RoleSchema], source: str = "<topology>") -> Topology:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"{source}: not valid TOML: {exc}") from None
    return parse(data, roles, source)


def load(path: str | Path, roles: Mapping[str, RoleSchema]) -> Topology:
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise TopologyError(f"{p}: no such topology file") from None
    return loads(text, roles, str(p))
