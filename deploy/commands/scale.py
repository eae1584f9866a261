"""`scale WEB=n`: add or remove web nodes while the site serves.

The topology file stays the source of truth for the base nodes; ``scale`` stores only a count in
``var/<cluster>/scale.json`` (``{"web": n}``), and every command applies it on top of the file
(:func:`scaled`): nodes beyond the file's are named and addressed after its last web node
(web2 at 127.0.1.2 -> web3 at 127.0.1.3, same port and options). Scaling below the file's own
count is refused: edit the file for that. ``clean`` forgets the overlay with the rest of the state.

HAProxy learns a node through its runtime API, with no reload: ``add server`` (HAProxy >= 2.6; the
backend's ``leastconn`` is a dynamic algorithm, and the server gets the same arguments as rendered
ones because dynamic servers ignore ``default-server``), ``enable health``, ``state ready``. A
server added that way starts in maintenance, so it gets no traffic before its node is ready. No
other server's state is touched, so a drained or maint node stays so. The rendered config is
rewritten to match (so a later reload or restart has the same servers; the reload keeps states via
the server-state file). Removing a node drains it first (drain, scur 0, maint), then ``del server``,
then stops its program.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from pathlib import Path

from ..clients import haproxy, probes
from ..clients.haproxy import RuntimeAPI
from ..model.defaults import DRAIN_TIMEOUT_S, UP_TIMEOUT_S
from ..model.topology import Node, Topology, TopologyError
from ..render.haproxy import LB_BACKEND, PANIC_BACKEND, dynamic_server_args, panic_server_args
from . import supervision
from .context import Cluster
from .progress import Progress

_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<n>\d+)$")


def overlay_path(state_root: Path) -> Path:
    return state_root / "scale.json"


def load_overlay(state_root: Path) -> int | None:
    try:
        return int(json.loads(overlay_path(state_root).read_text())["web"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_overlay(state_root: Path, count: int | None) -> None:
    path = overlay_path(state_root)
    if count is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"web": count}) + "\n")


def extra_web_nodes(topo: Topology, count: int) -> list[Node]:
    """The nodes ``count`` web nodes need beyond the topology file's (pure)."""
    base = list(topo.by_role("web"))
    if count < len(base):
        raise TopologyError(
            f"{topo.source} defines {len(base)} web nodes; scale cannot go below them "
            f"(asked for {count}): remove [web.*] tables from the file instead"
        )
    last = base[-1]
    match = _NUMBERED.match(last.name)
    if not match:
        raise TopologyError(
            f"scale names new nodes after the last web node; {last.name!r} does not end in a number"
        )
    prefix, number = match["prefix"], int(match["n"])
    taken_names = {n.name for n in topo}
    taken = {(n.address, n.port) for n in topo if n.port}
    out = []
    for k in range(1, count - len(base) + 1):
        name = f"{prefix}{number + k}"
        address = str(ipaddress.ip_address(last.address) + k)
        if name in taken_names or (address, last.port) in taken:
            raise TopologyError(
                f"scale: {name} at {address}:{last.port} collides with a node of {topo.source}"
            )
        out.append(Node(role="web", name=name, address=address, port=last.port, options=dict(last.options)))
    return out


def scaled(topo: Topology, count: int | None) -> Topology:
    """``topo`` with ``count`` web nodes.

    On this machine's loopback addresses, extra nodes come right after the file's last web node. A fleet's
    hosts are the file's: there ``count`` runs the first ``count`` of its web hosts (1 up to all of them).
    """
    web = topo.by_role("web")
    if count is None or count == len(web):
        return topo
    if topo.cluster.hosts == "fleet":
        if not 1 <= count <= len(web):
            raise TopologyError(
                f"{topo.source} has {len(web)} web hosts: a fleet scales within them (1-{len(web)}, asked for "
                f"{count}); add [web.<name>] hosts to the file and `make up` for more"
            )
        dropped = {n.name for n in web[count:]}
        return dataclasses.replace(topo, nodes=tuple(n for n in topo.nodes if n.name not in dropped))
    extra = extra_web_nodes(topo, count)
    nodes = list(topo.nodes)
    at = max(i for i, n in enumerate(nodes) if n.role == "web") + 1
    return dataclasses.replace(topo, nodes=tuple(nodes[:at] + extra + nodes[at:]))


# ------------------------------------------------------------------ the command
def scale(
    cluster: Cluster, base: Topology, count: int, progress: Progress, drain_timeout_s: float = DRAIN_TIMEOUT_S
) -> None:
    """Bring the cluster to ``count`` web nodes. ``base`` is the topology file without the overlay."""
    current = cluster.topo
    target = scaled(base, count)
    have = [n.name for n in current.by_role("web")]
    want = [n.name for n in target.by_role("web")]
    place = cluster.place
    lb = current.one("lb")
    api = place.runtime_api(lb, place.host_paths(lb).haproxy_admin_sock)
    new_cluster = Cluster(target, cluster.paths)
    added = [n for n in target.by_role("web") if n.name not in have]
    removed = [n for n in reversed(current.by_role("web")) if n.name not in want]
    if not added and not removed:
        progress.say(f"already {count} web nodes ({', '.join(have)})")
        return
    overlay = count if count != len(base.by_role("web")) else None
    if added:
        live = cluster.releases.live()
        if live is None:
            raise RuntimeError("no live release: run `up` first")
        for node in added:
            cluster.releases.set_node(node.name, live)
        save_overlay(cluster.paths.root, overlay)
        with progress.step(f"rendering configs for {', '.join(n.name for n in added)} (release {live})"):
            new_cluster.place.reconfigure()
        for node in added:
            with progress.step(f"{node.name}: start, wait for /readyz"):
                new_cluster.place.supervisor(node).start(node.name, wait=False)
                supervision.wait_ready(new_cluster.place, [node])
            with progress.step(f"{node.name}: add to HAProxy (runtime API), wait for UP"):
                add(api, node, target.one("lb").opt("server_pipeline"))
    for node in removed:
        with progress.step(f"{node.name}: drain, wait for in-flight requests, maint, remove from HAProxy"):
            remove(api, node, drain_timeout_s)
        with progress.step(f"{node.name}: stop"):
            place.supervisor(node).stop(node.name)
            cluster.releases.forget_node(node.name)
    if removed:
        save_overlay(cluster.paths.root, overlay)
        with progress.step("rendering configs without " + ", ".join(n.name for n in removed)):
            new_cluster.place.reconfigure()
    progress.say(f"web nodes: {', '.join(want)}")


def add(api: RuntimeAPI, node: Node, pipeline: int) -> None:
    """Into the site backend with no reload: add server (starts in maint), enable health, ready, UP;
    then its unchecked twin into the panic backend (used only while every checked server is down)."""
    if api.server(LB_BACKEND, node.name) is not None:
        api.set_state(LB_BACKEND, node.name, "maint")
    else:
        api.expect(
            haproxy.add_server(LB_BACKEND, node.name, dynamic_server_args(node, pipeline)), "New server"
        )
    api.expect(haproxy.enable_health(LB_BACKEND, node.name))
    haproxy.put_back(api, LB_BACKEND, node.name, UP_TIMEOUT_S + 5)
    if api.server(PANIC_BACKEND, node.name) is None:
        api.expect(
            haproxy.add_server(PANIC_BACKEND, node.name, panic_server_args(node, pipeline)), "New server"
        )
    api.set_state(PANIC_BACKEND, node.name, "ready")


def remove(api: RuntimeAPI, node: Node, drain_timeout_s: float) -> None:
    """Out of both backends: the panic twin first, then the same drain as a deploy, then del server."""
    if api.server(PANIC_BACKEND, node.name) is not None:
        api.set_state(PANIC_BACKEND, node.name, "maint")
        probes.wait_for(
            lambda: _try_del(api, PANIC_BACKEND, node.name), f"HAProxy to delete {node.name}", drain_timeout_s
        )
    if api.server(LB_BACKEND, node.name) is None:
        return
    haproxy.drain(api, LB_BACKEND, node.name, drain_timeout_s)
    # del server wants no connection left, idle ones included; they close right after maint.
    probes.wait_for(
        lambda: _try_del(api, LB_BACKEND, node.name), f"HAProxy to delete {node.name}", drain_timeout_s
    )


def _try_del(api: RuntimeAPI, backend: str, name: str) -> bool:
    out = api.command(haproxy.del_server(backend, name)).strip()
    return out.startswith("Server deleted") or "No such server" in out
