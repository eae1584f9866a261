"""What a cluster is to the operator's commands, whatever place it runs in (BRIEF section 9).

:class:`ClusterState` is the cluster's data on the operator's side: topology, state folder, secrets,
releases, the local supervisord. :class:`Place` is the interface every place implements (places.py: this
machine's loopback addresses; fleet.py: a host per node over SSH). Both sit below the places and the
commands, so nothing here imports them; deploy/commands/context.py joins the two.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..clients.haproxy import RuntimeAPI
from ..clients.probes import Prober
from ..clients.supervisor import Supervisor
from ..clients.transport import Transport
from ..model.app import AppSpec
from ..model.app import load as load_app
from ..model.paths import DEFAULT_APP, StatePaths
from ..model.release import Release
from ..model.secrets import Secrets, load_or_create
from ..model.topology import Node, Topology
from ..roles.base import RenderContext
from .progress import Progress
from .releases import ReleaseStore, assignments


class ClusterError(RuntimeError):
    """An operation could not be done; the message says what to do."""


@dataclass
class ClusterState:
    topo: Topology
    paths: StatePaths

    @functools.cached_property
    def secrets(self) -> Secrets:
        """Read (or, the first time, create) once per object: many steps need them."""
        return load_or_create(self.paths.secrets)

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.paths)

    @property
    def releases(self) -> ReleaseStore:
        """Immutable app releases and which one each web node runs (deploy/commands/releases.py)."""
        return ReleaseStore(self.paths.root)

    def node_releases(self) -> dict[str, Release]:
        return assignments(self.releases, [n.name for n in self.topo.by_role("web")])

    def worker_release(self) -> Release | None:
        """The live release, which the workers run; None before the first release."""
        store = self.releases
        live = store.live()
        if live and (store.root / live / "release.json").exists():
            return store.get(live)
        return None

    def app_source(self) -> Path:
        """The project folder this cluster serves: its live release's, else the one `up --app` recorded,
        else the example."""
        live = self.worker_release()
        if live is not None:
            return live.spec.source
        try:
            return Path(self.paths.app_source.read_text().strip())
        except OSError:
            return DEFAULT_APP

    def record_app_source(self, source: Path) -> None:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self.paths.app_source.write_text(f"{source.resolve()}\n")

    def app_spec(self) -> AppSpec:
        """The declaration (tiers.toml) of the project this cluster serves; AppError says what is wrong."""
        return load_app(self.app_source())

    def live_release(self) -> Release:
        """The live release, or a clear error when there is none yet."""
        release = self.worker_release()
        if release is None:
            raise ClusterError("the cluster has no release yet: `make up` (or `make deploy`) builds one")
        return release

    def render_context(self, node_releases: dict[str, Release] | None = None) -> RenderContext:
        return RenderContext(
            topo=self.topo,
            paths=self.paths,
            secrets=self.secrets,
            node_releases=self.node_releases() if node_releases is None else node_releases,
            worker_release=self.worker_release(),
        )


class Place(Protocol):
    def supervisor(self, node: Node) -> Supervisor: ...
    def supervisors(self) -> list[Supervisor]: ...
    def prober(self, node: Node) -> Prober: ...
    def transport(self, node: Node) -> Transport: ...
    def host_paths(self, node: Node) -> StatePaths: ...
    def runtime_api(self, node: Node, sock: Path, timeout: float = 3.0) -> RuntimeAPI: ...
    def prepare(self, progress: Progress) -> None: ...
    def kill(self, node: Node) -> None: ...
    def teardown(self, progress: Progress) -> None: ...
    # releases: where a node's host keeps them, getting one there, running one, following the live one
    def release_on(self, node: Node, release: Release) -> Release: ...
    def ship(self, node: Node, release: Release) -> None: ...
    def switch(self, node: Node, release: Release) -> None: ...
    def prune(self, node: Node, keep: list[str]) -> None: ...
    def follow_live(self) -> list[str]: ...
    def reconfigure(self) -> list[str]: ...
