"""The shape of a role declaration: everything the rest of the system needs to know about one role.

A role module (``deploy/roles/<role>.py``) builds one :class:`Role`; the registry
(``deploy/roles/__init__.py``) lists them in start order. Generic code (topology loading, host
preparation, config rendering, supervision, status, node-install, the Terraform tables) loops over
the registry and reads these fields; nothing outside the role modules branches on a role's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..clients.haproxy import ServerStat
from ..clients.probes import Prober
from ..model.defaults import HSTS_MAX_AGE_S
from ..model.paths import StatePaths
from ..model.release import Release
from ..model.secrets import Secrets
from ..model.tls import TLS_CERT_KEY
from ..model.topology import PORT, POSITIVE, Node, RoleSchema, Schema, Topology
from ..model.units import RESTART, Command, ConfigFile, Dir, Program

# Terraform's database modes (terraform/variables.tf `database_mode`).
ALL_MODES = ("patroni", "rds")


@dataclass(frozen=True)
class RenderContext:
    """What a role's builders may read. ``secrets`` holds only what the role receives."""

    topo: Topology
    paths: StatePaths
    secrets: Secrets
    # web node -> the release it runs (deploy/commands/releases.py).
    node_releases: Mapping[str, Release] = field(default_factory=dict)
    # The live release, which workers and queue nodes run; None before the first release.
    worker_release: Release | None = None


@dataclass(frozen=True)
class Flow:
    """A security-group row into this role: from ``source`` role to this role's ``port_key`` port."""

    source: str
    port_key: str
    why: str
    modes: tuple[str, ...] = ALL_MODES


@dataclass(frozen=True)
class Placement:
    """Where Terraform puts the role's hosts (terraform/roles.tf.json is rendered from this).

    ``host_group``: the root module's `module` block that creates its hosts or managed service;
    ``exists_in``/``instances_in``: the database modes in which the role exists / runs on our own EC2
    instances (else: a managed service); ``public``: reachable from the allowed client networks;
    ``reaches_s3``: needs S3 egress; ``debian_units``: services Debian's packages start, disabled;
    ``release_setup``: its hosts run the release's migrations and collectstatic, once per release for the
    whole cluster (the first to take a PostgreSQL advisory lock; the integration's release_setup command).
    """

    host_group: str
    exists_in: tuple[str, ...] = ALL_MODES
    instances_in: tuple[str, ...] = ALL_MODES
    public: bool = False
    reaches_s3: bool = False
    debian_units: tuple[str, ...] = ()
    release_setup: bool = False


@dataclass(frozen=True)
class Tls:
    """The role terminates TLS: its schema includes :data:`TLS_KEYS`. A certificate the cluster's local CA
    issues for a node covers its address, the public name clients use for it, and localhost."""

    # The host name clients use for the node ("" when they use its address).
    public_name: Callable[[Node], str]
    # The schema key of the port TLS is served on (public roles: open to clients like the main port).
    port_key: str = "https_port"

    def names(self, node: Node) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for n in (node.address, self.public_name(node), "localhost") if n))


# The schema keys of every TLS-terminating role.
TLS_KEYS: Schema = {
    "https_port": (PORT, 8443),
    # PEM (chain, then key) kept current by the operator's ACME client or CA; "" = issued by the
    # cluster's local CA into <state>/tls/ (deploy/model/tls.py).
    TLS_CERT_KEY: (str, ""),
    "hsts_max_age_s": (POSITIVE, HSTS_MAX_AGE_S),
}


@dataclass(frozen=True)
class StatusView:
    """What a node's status line may read besides the node itself."""

    # Probes from where this node can be reached (this machine, or its own host over SSH).
    probe: Prober
    # The site load balancer's web servers as HAProxy sees them (empty when it does not answer).
    lb_servers: Mapping[str, ServerStat] = field(default_factory=dict)


def no_files(_ctx: RenderContext, _node: Node) -> list[ConfigFile]:
    return []


def no_dirs(_paths: StatePaths, _node: Node) -> list[Dir]:
    return []


def no_paths(_paths: StatePaths, _node: Node) -> list[Path]:
    return []


def no_pids(_paths: StatePaths, _node: Node) -> list[int]:
    return []


@dataclass(frozen=True)
class Role:
    name: str
    summary: str
    # The topology file's [<name>.<node>] tables: keys, defaults, counts, cross-node checks.
    schema: RoleSchema
    # Start order: lower first (supervisord priority; `up` waits for roles in this order).
    priority: int
    # The node's program; the registry sets its name, role, priority and reload from here.
    program: Callable[[RenderContext, Node], Program]
    # (health word, detail) for `make status`, asked only when the node's process runs.
    status: Callable[[Node, StatusView], tuple[str, str]]
    terraform: Placement
    # Security-group rows into this role (rendered into Terraform, later into each host's nftables).
    ingress: tuple[Flow, ...]
    # Debian packages whose binaries it runs; the binaries preflight checks for.
    packages: tuple[str, ...] = ()
    binaries: tuple[str, ...] = ()
    # The unprivileged OS user its program runs as (supervisord's `user=`, systemd's `User=`); every
    # directory it writes (its data, run and log folders) is owned by it. Root is never a role's user.
    user: str = "nobody"
    # OS users it needs: its own (created as a system user when its packages do not bring it) and others.
    users: tuple[str, ...] = ()
    # Capabilities its program keeps (systemd's AmbientCapabilities and CapabilityBoundingSet): e.g.
    # CAP_NET_BIND_SERVICE for a port below 1024 in production. Everything else is dropped.
    capabilities: tuple[str, ...] = ()
    # Terminates TLS: where its certificate comes from and what a locally issued one covers.
    tls: Tls | None = None
    # Serves TLS to other nodes in the production profile (etcd, Patroni and PostgreSQL): a certificate
    # for its address from the cluster CA (deploy/model/tls.py internal_cert_file).
    internal_tls: bool = False
    # The fields of deploy.model.secrets.Secrets it receives; every other one is withheld.
    secrets: frozenset[str] = frozenset()
    # Config files of one node (each names the program that reloads on change).
    files: Callable[[RenderContext, Node], list[ConfigFile]] = no_files
    # Directories one node needs before it starts (beyond the state folder's own).
    dirs: Callable[[StatePaths, Node], list[Dir]] = no_dirs
    # Readiness probe (run from where the node can be reached); None: the process state is its readiness.
    ready: Callable[[Node, Prober], bool] | None = None
    ready_timeout_s: float = 30.0
    # A changed config file: a signal the program reloads on, or RESTART.
    reload: str = RESTART
    # Run before that reload signal (the LB saves its server states so drain/maint survive it).
    before_reload: Callable[[StatePaths], None] | None = None
    # A helper program beside each node's own, on the same host (named ``<node>-<suffix>``, supervised and
    # installed with the node, no readiness of its own): the DB tier's backup schedule.
    sidecar: Callable[[RenderContext, Node], Program] | None = None
    # Live processes the program leaves outside its process group (Patroni's detached postmaster):
    # `kill` SIGKILLs them with the program, `down` stops what a killed program left behind.
    strays: Callable[[StatePaths, Node], list[int]] = no_pids
    # The signals that stop a stray, in turn, each given its time: the clean one first, then firmer ones.
    stray_stop_signals: tuple[str, ...] = ("TERM",)
    # Runs the live release's app (not a release of its own, as web nodes do): a deploy or rollback ships
    # the release to its hosts and re-renders it once the web nodes are switched (workers, queue nodes).
    follows_live: bool = False
    # Reads the live release's declaration (tiers.toml), not its code: the LB's URL classes. A host of its
    # own gets the release's release.json only, and is re-rendered after a deploy or rollback.
    reads_app: bool = False
    # Files outside its folders an earlier run may have left, which would stop it from starting (SeaweedFS's
    # gRPC sockets in /tmp): host preparation removes those not owned by the role's user.
    leftovers: Callable[[StatePaths, Node], list[Path]] = no_paths
    # Commands run once its nodes are ready, on its first node's host; idempotent (etcd: authentication).
    setup: Callable[[RenderContext, Node], list[Command]] | None = None
