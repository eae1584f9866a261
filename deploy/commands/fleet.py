"""The rehearsal fleet: every node its own host on this machine, reached only over SSH (BRIEF section 9).

A host is a network namespace ``tiers-<cluster>-<node>`` (its own address on a private network whose bridge
lives in ``tiers-<cluster>-net``: nothing is added to the root namespace and there is no route out) plus its
own mount and UTS namespaces, in which its state folder ``var/<cluster>/hosts/<node>`` is mounted at
``/var/lib/tiers`` (production's path) and the rest of ``var/`` is hidden, so hosts share nothing through
the filesystem but the code (the repository and its venv, as a machine image would). Two more namespaces:
``tiers-<cluster>-internet`` (outside clients) and ``tiers-<cluster>-ops`` (where the operator's SSH
client runs). Each host runs sshd; the operator installs it the way production does (``node-install``
from the same topology, under the host's own supervisord) and reaches its supervisord and HAProxy sockets
with one command per request over SSH (nothing is forwarded). Each host's inbound firewall is the
registry's security-group table.

The builders below return argv lists; :class:`Fleet` runs them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from ..clients import probes
from ..clients.haproxy import RuntimeAPI
from ..clients.probes import Prober, RemoteProber
from ..clients.procs import pid_in
from ..clients.supervisor import Supervisor
from ..clients.transport import SSH, Transport, TransportError
from ..model.paths import REPO, StatePaths, project_python
from ..model.release import Release
from ..model.topology import Node, Topology
from ..model.units import ConfigFile
from ..render.templates import render
from ..roles import app_readers, live_followers, load, role_of
from ..roles.firewall import render_ruleset
from . import supervision
from .hosts import HostError, write_if_changed
from .progress import Progress
from .releases import ensure_initial, releases_dir
from .state import ClusterState

# Every fleet host sees its own state folder here, the path production's node-install uses.
MOUNTPOINT = Path("/var/lib/tiers")
# Where a host's own /tmp is assembled (inside its mount namespace) before it is moved onto /tmp.
STAGE = Path("/mnt")
SSHD = "/usr/sbin/sshd"
NEEDED = {"ip": "iproute2", "nft": "nftables", SSHD: "openssh-server", "ssh": "openssh-client",
          "ssh-keygen": "openssh-client", "unshare": "util-linux"}  # fmt: skip


def ns_name(cluster: str, what: str) -> str:
    return f"tiers-{cluster}-{what}"


def endpoints(topo: Topology) -> list[tuple[str, str]]:
    """(namespace suffix, address) of every host of the private network, the two outside ones last."""
    hosts = [(n.name, n.address) for n in topo]
    return [*hosts, ("internet", topo.fleet.internet_address), ("ops", topo.fleet.ops_address)]


def network_argv(topo: Topology) -> list[list[str]]:
    """Create the bridge namespace and one namespace per host, each linked to the bridge by a veth pair.

    Each pair is created inside the bridge's namespace with its peer moved straight into the host's, so
    the root namespace never holds an interface of the fleet.
    """
    cluster = topo.cluster.name
    net = ns_name(cluster, "net")
    prefix = ipaddress.ip_network(topo.fleet.network).prefixlen
    cmds = [
        ["ip", "netns", "add", net],
        ["ip", "-n", net, "link", "set", "lo", "up"],
        ["ip", "-n", net, "link", "add", "br0", "type", "bridge"],
        ["ip", "-n", net, "link", "set", "br0", "up"],
    ]
    for i, (name, address) in enumerate(endpoints(topo)):
        host = ns_name(cluster, name)
        cmds += [
            ["ip", "netns", "add", host],
            ["ip", "-n", net, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0", "netns", host],
            ["ip", "-n", net, "link", "set", f"v{i}", "master", "br0", "up"],
            ["ip", "-n", host, "link", "set", "lo", "up"],
            ["ip", "-n", host, "addr", "add", f"{address}/{prefix}", "dev", "eth0"],
            ["ip", "-n", host, "link", "set", "eth0", "up"],
        ]
    return cmds


def sshd_start_argv(cluster: str, node: Node, host_dir: Path, hidden: Path, code: Path = REPO) -> list[str]:
    """sshd of one host, in the host's network namespace and its own mount and UTS namespaces.

    Its own state folder is bound at MOUNTPOINT; /tmp becomes a tmpfs of the host's own, with the code
    (``code``, the repository and its venv: the machine image) bound back into it when it lives under /tmp
    (a CI clone does); then ``hidden`` (the operator's ``var/``, which holds every host's folder and the
    cluster's secrets) is covered by an empty tmpfs. A private /tmp because programs put unix sockets
    there (SeaweedFS's gRPC sockets, named by port only) and a socket path crosses network namespaces: a
    shared /tmp joined a fleet host's S3 store to a `make up` cluster's. The new /tmp is built on STAGE and
    moved into place, so the code stays reachable while it is assembled. sshd daemonizes; the sessions it
    opens (and the supervisord a session starts) stay in these namespaces.
    """
    keep = ""
    if code.is_relative_to("/tmp"):
        inner = STAGE / code.relative_to("/tmp")
        keep = f"mkdir -p {inner} && mount --bind {code} {inner} && "
    script = (
        f"hostname {node.name} && mount --bind {host_dir} {MOUNTPOINT} && "
        f"mount -t tmpfs -o mode=1777,size=256m tiers-tmp {STAGE} && {keep}mount --move {STAGE} /tmp && "
        f"mount -t tmpfs -o mode=0755,size=1m tiers-hidden {hidden} && "
        f"exec {SSHD} -f {MOUNTPOINT}/ssh/sshd_config -E {MOUNTPOINT}/ssh/sshd.log"
    )
    return ["ip", "netns", "exec", ns_name(cluster, node.name),
            "unshare", "--mount", "--uts", "--propagation", "private", "--", "sh", "-c", script]  # fmt: skip


def deploy_argv(topology_file: Path, *args: str) -> list[str]:
    """``python -m deploy`` on a host (the code is the machine image: the repository and its venv)."""
    return [*project_python(), "-m", "deploy", "--topology", str(topology_file), *args]


def node_install_argv(topology_file: Path, node: Node, release: str = "", web_count: int = 0) -> list[str]:
    """node-install on the host itself, under its own supervisord; secrets arrive on stdin.

    ``web_count``: how many of the file's web hosts run (`scale`), so every host renders the same cluster.
    """
    return deploy_argv(topology_file, "node-install", node.name, "--state", str(MOUNTPOINT),
                       "--manager", "supervisord", "--secrets", "-", "--release", release,
                       "--web-count", str(web_count))  # fmt: skip


# Unpacks a release (a tar of <version>/ on stdin) into the host's releases folder, atomically: a half-copied
# release is never visible under its name. $1: the releases folder, $2: the version.
RECEIVE_RELEASE = (
    'set -e; mkdir -p "$1"; cd "$1"; if [ -f "$2/release.json" ]; then cat >/dev/null; exit 0; fi; '
    'rm -rf ".incoming-$2"; mkdir ".incoming-$2"; tar -C ".incoming-$2" -xf -; mv ".incoming-$2/$2" "$2"; '
    'rmdir ".incoming-$2"'
)
# Deletes every release of the host's releases folder not named in the arguments ($1: the folder).
PRUNE_RELEASES = (
    'cd "$1" 2>/dev/null || exit 0; shift; for d in */; do d=${d%/}; keep=0; '
    'for k in "$@"; do [ "$d" = "$k" ] && keep=1; done; '
    '[ $keep = 1 ] || { chmod -R u+w "$d"; rm -rf "$d"; }; done'
)


def _run(argv: list[str], what: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise HostError(f"{what}: `{' '.join(argv)}` failed: {(out.stderr or out.stdout).strip()}")
    return out


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


class Fleet:
    """The Place of a fleet topology: per-node SSH transports, supervisord and HAProxy reached by one command
    per request, probes run on each host."""

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self.topo = cluster.topo  # the nodes that run (`scale` may leave some web hosts idle)
        # Every host of the file: namespaces, keys and sshd exist for all of them.
        self.hosts = load(self.topo.source)
        self.name = self.topo.cluster.name
        self.ops_dir = cluster.paths.root / "ops"

    # -- where things are
    def host_dir(self, node: Node) -> Path:
        return self.cluster.paths.root / "hosts" / node.name

    def host_paths(self, node: Node) -> StatePaths:
        return StatePaths.for_cluster(self.name, MOUNTPOINT)

    @property
    def key(self) -> Path:
        return self.ops_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ops_dir / "known_hosts"

    def ssh(self, node: Node) -> SSH:
        return SSH(
            name=node.name,
            address=node.address,
            key=self.key,
            known_hosts=self.known_hosts,
            control_dir=self.ops_dir / "ctl",
            via=("ip", "netns", "exec", ns_name(self.name, "ops")),
        )

    # -- Place
    def transport(self, node: Node) -> Transport:
        return self.ssh(node)

    def prober(self, node: Node) -> Prober:
        return RemoteProber(self.ssh(node).run)

    def runtime_api(self, node: Node, sock: Path, timeout: float = 3.0) -> RuntimeAPI:
        """HAProxy's runtime API on the node's host: one command over SSH per request."""
        ssh = self.ssh(node)

        def send(cmd: str) -> str:
            argv = [*project_python(), "-m", "deploy.clients.unixsock", "line", str(sock)]
            out = ssh.run(argv, input=cmd, timeout=timeout + 10, check=False)
            if out.returncode != 0:
                raise ConnectionError(f"{node.name}: {out.stderr.strip()}")
            return out.stdout

        return RuntimeAPI(sock, timeout, send=send)

    def supervisor(self, node: Node) -> Supervisor:
        paths, ssh = self.host_paths(node), self.ssh(node)

        def post(body: str) -> str:
            argv = [*project_python(), "-m", "deploy.clients.unixsock", "http", str(paths.supervisor_sock)]
            out = ssh.run(argv, input=body, timeout=120, check=False)
            if out.returncode != 0:
                raise ConnectionError(f"{node.name}'s supervisord: {out.stderr.strip() or 'no answer'}")
            return out.stdout

        return Supervisor(paths, post=post)

    def supervisors(self) -> list[Supervisor]:
        if ns_name(self.name, "ops") not in namespaces():
            return []
        return [self.supervisor(n) for n in self.topo]

    # -- releases: each web and worker host keeps its own copies, in its own state folder
    def releases_dir(self, node: Node) -> Path:
        return releases_dir(self.host_paths(node).root)

    def release_on(self, node: Node, release: Release) -> Release:
        return release.at(self.releases_dir(node) / release.version)

    def ship(self, node: Node, release: Release, declaration_only: bool = False) -> None:
        """The release to the node's host; ``declaration_only``: its release.json alone (what the LB reads)."""
        member = f"{release.version}/release.json" if declaration_only else release.version
        tar = ["tar", "-C", str(release.path.parent), "-cf", "-", member]
        receive = ["sh", "-c", RECEIVE_RELEASE, "receive", str(self.releases_dir(node)), release.version]
        self.ssh(node).stream(tar, receive)

    def prune(self, node: Node, keep: list[str]) -> None:
        self.ssh(node).run(["sh", "-c", PRUNE_RELEASES, "prune", str(self.releases_dir(node)), *keep])

    def install(self, node: Node, release: str = "") -> None:
        """node-install on the node's host (its configs, its supervisord), with only its role's secrets."""
        mine = self.cluster.secrets.only(role_of(node).secrets)
        argv = node_install_argv(self.topology_file, node, release, len(self.topo.by_role("web")))
        self.ssh(node).run(argv, input=json.dumps(dataclasses.asdict(mine)), timeout=180)

    def switch(self, node: Node, release: Release) -> None:
        self.ship(node, release)
        self.install(node, release.version)  # the config changed: its supervisord restarts the program

    def install_running(self, nodes: Iterable[Node]) -> None:
        """Each node's host gets the release the node runs (web nodes their own, workers and queue nodes the live
        one; the LB the live one's declaration only) and node-install again."""
        store = self.cluster.releases
        live = store.live() or ""
        running = {**{n.name: live for n in [*live_followers(self.topo), *app_readers(self.topo)]},
                   **store.node_versions()}  # fmt: skip
        for node in nodes:
            version = running.get(node.name, "")
            if version:
                self.ship(node, store.get(version), declaration_only=role_of(node).reads_app)
            self.install(node, version)

    def reconfigure(self) -> list[str]:
        """node-install again on every running host: each renders the current cluster, reloads what changed."""
        self.install_running(self.topo)
        return [n.name for n in self.topo]

    def follow_live(self) -> list[str]:
        followers = live_followers(self.topo)
        if self.cluster.releases.live() is None or not followers:
            return []
        # The LB too: its URL classes are the live project's (a deploy may have switched projects).
        self.install_running([*followers, *app_readers(self.topo)])
        supervision.wait_ready(self, followers)
        return [n.name for n in followers]

    def kill(self, node: Node) -> None:
        argv = deploy_argv(self.topology_file, "host-kill", node.name, "--state", str(MOUNTPOINT))
        self.ssh(node).run(argv, timeout=60)

    @property
    def topology_file(self) -> Path:
        return Path(self.topo.source).resolve()

    # -- up
    def prepare(self, progress: Progress) -> None:
        self.preflight()
        with progress.step("operator and host keys"):
            self.ensure_keys()
        with progress.step(f"private network and {len(self.topo.nodes)} host namespaces (no route out)"):
            self.ensure_network()
        with progress.step("each host's firewall (the security-group table) and sshd"):
            for node in self.hosts:
                self.start_host(node)
        with progress.step("SSH to every host (pinned host keys)"):
            for node in self.hosts:
                ssh = self.ssh(node)
                try:
                    probes.wait_for(lambda s=ssh: _connects(s), f"sshd on {node.name} ({node.address})", 20)
                except probes.WaitTimeout:
                    ssh.connect()  # raises the reason, naming the host and the fix; nothing was installed
        web = [n.name for n in self.topo.by_role("web")]
        with progress.step("making sure the web nodes run a release"):
            live = ensure_initial(self.cluster.releases, web, self.cluster.app_spec(), log=progress.say)
        progress.say(f"live release {live}")
        with progress.step("node-install on every host (its release, configs, its own supervisord)"):
            self.install_running(self.topo)

    def preflight(self) -> None:
        if os.geteuid() != 0:
            raise HostError("the fleet needs root (network and mount namespaces, nftables)")
        missing = sorted({pkg for tool, pkg in NEEDED.items() if not _which(tool)})
        if missing:
            raise HostError(f"the fleet needs Debian packages {' '.join(missing)}: `make up` installs them")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        MOUNTPOINT.mkdir(parents=True, exist_ok=True)

    def ensure_keys(self) -> None:
        self.ops_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.ops_dir, 0o700)
        if not self.key.exists():
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"tiers-{self.name}-ops", "-f", str(self.key)],
                 "operator key")  # fmt: skip
        pinned = []
        for node in self.hosts:
            ssh_dir = self.host_dir(node) / "ssh"
            ssh_dir.mkdir(parents=True, exist_ok=True)
            host_key = ssh_dir / "ssh_host_ed25519_key"
            if not host_key.exists():
                _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", node.name, "-f", str(host_key)],
                     f"host key of {node.name}")  # fmt: skip
            kind, blob = Path(f"{host_key}.pub").read_text().split()[:2]
            pinned.append(f"{node.address} {kind} {blob}\n")
        write_if_changed_text(self.known_hosts, "".join(pinned), 0o600)

    def ensure_network(self) -> None:
        present = namespaces()
        wanted = {ns_name(self.name, what) for what, _a in endpoints(self.hosts)} | {
            ns_name(self.name, "net")
        }
        if wanted <= present:
            return
        if wanted & present:
            raise HostError(
                f"the fleet's namespaces are half there ({', '.join(sorted(wanted & present))}): "
                f"`make down TOPOLOGY={self.topo.source}` removes them, then `make up` again"
            )
        for argv in network_argv(self.hosts):
            _run(argv, "fleet network")

    def start_host(self, node: Node) -> None:
        host_dir = self.host_dir(node)
        ssh_dir = host_dir / "ssh"
        write_if_changed_text(ssh_dir / "authorized_keys", Path(f"{self.key}.pub").read_text(), 0o600)
        config = render("deploy/templates/sshd_config.j2", cluster=self.name, node=node.name,
                        address=node.address, mount=MOUNTPOINT)  # fmt: skip
        write_if_changed_text(ssh_dir / "sshd_config", config, 0o600)
        ruleset = render_ruleset(self.hosts, node)
        write_if_changed_text(host_dir / "nftables.nft", ruleset, 0o644)
        host_ns = ns_name(self.name, node.name)
        # flush + the new table in one transaction: the host is never without its rules.
        _run(["ip", "netns", "exec", host_ns, "nft", "-f", "-"], f"firewall of {node.name}",
             input="flush ruleset\n" + ruleset)  # fmt: skip
        if pid_in(ssh_dir / "sshd.pid"):
            return
        _run(
            sshd_start_argv(self.name, node, host_dir, self.cluster.paths.root.parent), f"sshd of {node.name}"
        )

    # -- down
    def teardown(self, progress: Progress) -> None:
        present = namespaces()
        mine = sorted(ns for ns in present if ns.startswith(f"tiers-{self.name}-"))
        if not mine:
            progress.say("no fleet namespaces: nothing to remove")
            return
        with progress.step("stopping each host's supervisord"):
            for node in self.topo:
                sup = self.supervisor(node)
                if sup.running():
                    sup.shutdown()
        with progress.step(f"ending every process in {len(mine)} namespaces, removing them"):
            for node in self.hosts:
                self.ssh(node).close()
            stop_namespace_processes(mine)
            for ns in mine:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def stop_namespace_processes(names: list[str], grace_s: float = 30) -> None:
    """TERM everything left in these namespaces (a postmaster shuts down cleanly), KILL what outlives grace."""

    def pids() -> set[int]:
        out: set[int] = set()
        for ns in names:
            listed = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            out |= {int(p) for p in listed.stdout.split()}
        return out

    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5)):
        for pid in pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pids() and time.monotonic() < deadline:
            time.sleep(0.2)


def write_if_changed_text(path: Path, text: str, mode: int) -> bool:
    return write_if_changed(ConfigFile(path, text, mode))


def _connects(ssh: SSH) -> bool:
    try:
        ssh.connect()
    except TransportError:
        return False
    return True


def _which(tool: str) -> bool:
    return Path(tool).exists() if tool.startswith("/") else shutil.which(tool) is not None
