"""One cluster as the operator commands see it: its state, the place its nodes run in, its DB admin."""

from __future__ import annotations

import functools

from .fleet import Fleet
from .places import Loopback
from .postgres import PostgresAdmin
from .state import ClusterState, Place


class Cluster(ClusterState):
    @functools.cached_property
    def place(self) -> Place:
        """Where the nodes run: this machine's loopback addresses, or the rehearsal fleet's hosts."""
        return Fleet(self) if self.topo.cluster.hosts == "fleet" else Loopback(self)

    @functools.cached_property
    def pg(self) -> PostgresAdmin:
        return PostgresAdmin(self.topo, self.place, self.secrets)
