"""One cluster as the operator commands see it: its topology, state folder, secrets and clients."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from ..clients.supervisor import Supervisor
from ..model.paths import StatePaths
from ..model.secrets import Secrets, load_or_create
from ..model.topology import Topology
from ..roles.base import RenderContext
from .fleet import Fleet
from .places import Loopback, Place
from .postgres import PostgresAdmin
from .releases import ReleaseStore, assignments


class ClusterError(RuntimeError):
    """An operation could not be done; the message says what to do."""


@dataclass
class Cluster:
    topo: Topology
    paths: StatePaths

    @functools.cached_property
    def secrets(self) -> Secrets:
        """Read (or, the first time, create) once per Cluster object: many steps need them."""
        return load_or_create(self.paths.secrets)

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.paths)

    @functools.cached_property
    def place(self) -> Place:
        """Where the nodes run: this machine's loopback addresses, or the rehearsal fleet's hosts."""
        return Fleet(self) if self.topo.cluster.hosts == "fleet" else Loopback(self)

    @functools.cached_property
    def pg(self) -> PostgresAdmin:
        return PostgresAdmin(self.topo, self.place, self.secrets)

    @property
    def releases(self) -> ReleaseStore:
        """Immutable app releases and which one each web node runs (deploy/commands/releases.py)."""
        return ReleaseStore(self.paths.root, self.paths.repo / "pyproject.toml")

    def node_releases(self) -> dict[str, tuple[Path, str]]:
        return assignments(self.releases, [n.name for n in self.topo.by_role("web")])

    def worker_release(self) -> tuple[Path, str] | None:
        """(app dir, version) of the live release, which the workers run; None before the first release."""
        store = self.releases
        live = store.live()
        if live and (store.root / live / "release.json").exists():
            return store.root / live / "app", live
        return None

    def render_context(self, node_releases: dict[str, tuple[Path, str]] | None = None) -> RenderContext:
        return RenderContext(
            topo=self.topo,
            paths=self.paths,
            secrets=self.secrets,
            node_releases=self.node_releases() if node_releases is None else node_releases,
            worker_release=self.worker_release(),
        )
