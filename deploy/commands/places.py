"""Where a topology runs (BRIEF section 9), behind one interface the commands use.

A place answers, for any node: which supervisord runs its program, how to probe it, how to run a command on
its host, how its host's state folder looks from there, and how to reach one of its host's unix sockets.
:class:`Loopback` is every node on its own loopback address of this machine under one supervisord; the
rehearsal fleet (deploy/commands/fleet.py) is every node its own host reached over SSH.
"""

from __future__ import annotations

from pathlib import Path

from ..clients import probes
from ..clients.haproxy import RuntimeAPI
from ..clients.probes import LocalProber, Prober
from ..clients.procs import alive, pid_in
from ..clients.supervisor import Supervisor
from ..clients.transport import Local, Transport
from ..model.paths import StatePaths
from ..model.release import Release
from ..model.topology import Node
from ..roles import app_readers, live_followers
from ..roles.nodes import node_files, programs, render_all, supervisord_file
from . import hosts, pki, supervision
from .progress import Progress
from .releases import differs_from, ensure_initial
from .state import ClusterState


class Loopback:
    """One machine: one supervisord, local probes, local commands, one state folder."""

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self.local = Local()
        self.probe = LocalProber()

    def supervisor(self, node: Node) -> Supervisor:
        return self.cluster.supervisor

    def supervisors(self) -> list[Supervisor]:
        return [self.cluster.supervisor]

    def prober(self, node: Node) -> Prober:
        return self.probe

    def transport(self, node: Node) -> Transport:
        return self.local

    def host_paths(self, node: Node) -> StatePaths:
        return self.cluster.paths

    def runtime_api(self, node: Node, sock: Path, timeout: float = 3.0) -> RuntimeAPI:
        return RuntimeAPI(sock, timeout)

    def prepare(self, progress: Progress) -> None:
        """Check this machine, make the state folder, render every config, start or update supervisord."""
        cluster = self.cluster
        topo, paths = cluster.topo, cluster.paths
        hosts.preflight(topo, programs(cluster.render_context({})))
        hosts.make_dirs(hosts.dirs_for(paths, topo))
        hosts.remove_leftovers(paths, topo)
        web_names = [n.name for n in topo.by_role("web")]
        with progress.step("making sure the web nodes run a release"):
            # The first `up` builds one from the project; later ones keep what nodes run
            # (code changes ship with `deploy`).
            spec = cluster.app_spec()
            live = ensure_initial(cluster.releases, web_names, spec, log=progress.say)
        progress.say(f"live release {live}")
        if differs_from(cluster.releases, live, spec):
            progress.say(
                f"note: {spec.source} changed since that release; `make deploy` ships it (up keeps releases)"
            )
        with progress.step("certificates (the cluster's local CA issues what no file provides)"):
            # A reissued certificate is taken like a changed config (HAProxy and nginx reload on a signal).
            renewed = pki.ensure_certificates(topo, paths)
        with progress.step("rendering configs"):
            changed = hosts.write_files(render_all(cluster.render_context())) | renewed
        with progress.step("starting supervisord or applying config changes"):
            supervision.start_or_apply(cluster.supervisor, paths, topo, changed)

    def kill(self, node: Node) -> None:
        supervision.kill(self.cluster.supervisor, self.cluster.paths, node)

    def release_on(self, node: Node, release: Release) -> Release:
        """Every node of this machine runs releases from the one store."""
        return release

    def ship(self, node: Node, release: Release) -> None:
        """Every node of this machine runs releases from the one store: nothing to copy."""

    def prune(self, node: Node, keep: list[str]) -> None:
        """The one store was pruned already."""

    def switch(self, node: Node, release: Release) -> None:
        """Render the node's config on ``release`` and restart its program.

        The node's command names its release's own uWSGI, so supervisord's config changes too and is
        re-read here, while the node is out of rotation: re-reading it later (a follower's restart) would
        restart a serving node without a drain."""
        cluster = self.cluster
        wanted = {**cluster.node_releases(), node.name: release}
        ctx = cluster.render_context(wanted)
        for cf in [*node_files(ctx, node), supervisord_file(ctx)]:
            hosts.write_if_changed(cf)
        sup = cluster.supervisor
        if node.name not in sup.update():  # a changed program is stopped, re-added and started by update
            sup.stop(node.name)
            sup.start(node.name, wait=False)

    def reconfigure(self) -> list[str]:
        """Every config rendered again for the current topology; supervisord adds, removes and re-commands
        programs. Returns their names. A node added meanwhile (`scale`) gets its folders first."""
        hosts.make_dirs(hosts.dirs_for(self.cluster.paths, self.cluster.topo))
        hosts.write_files(render_all(self.cluster.render_context()))
        return self.cluster.supervisor.update()

    def follow_live(self) -> list[str]:
        """Re-render and restart the nodes that run the live release (workers, queue nodes) after a deploy
        or rollback.

        Only the programs whose command or config changed restart; a task cut short is re-queued by the new
        worker. Returns once every restarted node is ready again: supervisord starts a re-added program on
        its next tick, after `update` has returned, so a deploy that did not wait here could report success
        while a node was not yet running the release it reports.
        """
        followers = live_followers(self.cluster.topo)
        if not followers:
            return []
        cluster = self.cluster
        changed_files = hosts.write_files(render_all(cluster.render_context()))
        changed = set(cluster.supervisor.update())
        # Only the nodes that follow the live release: the followers' configs name it, the LB's holds its
        # project's URL classes. A web node's config that changed otherwise (a secret set since) waits for
        # its own drained switch: applying it here would restart a serving node.
        names = {n.name for n in [*followers, *app_readers(cluster.topo)]}
        for name in sorted((changed_files & names) - changed):
            supervision.apply_change(cluster.supervisor, cluster.paths, cluster.topo.node(name))
            changed.add(name)
        supervision.wait_ready(self, [n for n in cluster.topo if n.name in changed])
        return sorted(changed)

    def teardown(self, progress: Progress) -> None:
        """Programs are stopped: stop supervisord and anything a killed program left behind."""
        sup, paths = self.cluster.supervisor, self.cluster.paths
        if sup.running():
            with progress.step("stopping supervisord"):
                pid = pid_in(paths.run / "supervisord.pid")
                sup.shutdown()
                if pid:
                    probes.wait_for(lambda: not alive(pid), "supervisord to exit", 20)
        supervision.stop_strays(self.cluster.topo, paths)
