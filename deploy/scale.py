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
from typing import TYPE_CHECKING

from .haproxy_api import HAProxyAPI
from .render.haproxy import LB_BACKEND, dynamic_server_args
from .topology import Node, Topology, TopologyError

if TYPE_CHECKING:
    from .cluster import Cluster
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
    base = list(topo.web)
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
    """``topo`` with ``count`` web nodes (the extra ones right after the file's last web node)."""
    if count is None or count == len(topo.web):
        return topo
    extra = extra_web_nodes(topo, count)
    nodes = list(topo.nodes)
    at = max(i for i, n in enumerate(nodes) if n.role == "web") + 1
    return dataclasses.replace(topo, nodes=tuple(nodes[:at] + extra + nodes[at:]))


# ------------------------------------------------------------------ the command
def scale(
    cluster: Cluster, base: Topology, count: int, progress: Progress, drain_timeout_s: float = 30.0
) -> None:
    """Bring the cluster to ``count`` web nodes. ``base`` is the topology file without the overlay."""
    from . import probes
    from .cluster import Cluster as ClusterCls

    current = cluster.topo
    target = scaled(base, count)
    have = [n.name for n in current.web]
    want = [n.name for n in target.web]
    api = HAProxyAPI(cluster.paths.haproxy_admin_sock)
    sup = cluster.supervisor
    new_cluster = ClusterCls(target, cluster.paths)
    added = [n for n in target.web if n.name not in have]
    removed = [n for n in reversed(current.web) if n.name not in want]
    if not added and not removed:
        progress.say(f"already {count} web nodes ({', '.join(have)})")
        return
    if added:
        live = cluster.releases.live()
        if live is None:
            raise RuntimeError("no live release: run `up` first")
        for node in added:
            cluster.releases.set_node(node.name, live)
        save_overlay(cluster.paths.root, count if count != len(base.web) else None)
        with progress.step(f"rendering configs for {', '.join(n.name for n in added)} (release {live})"):
            new_cluster.write_configs()
            sup.update()
        for node in added:
            with progress.step(f"{node.name}: start, wait for /readyz"):
                sup.start(node.name, wait=False)
                probes.wait_for(
                    lambda n=node: probes.http_get(n.address, n.port, "/readyz", timeout=3.0)[0] == 200,
                    f"{node.name} /readyz",
                    60,
                )
            with progress.step(f"{node.name}: add to HAProxy (runtime API), wait for UP"):
                if _server_exists(api, node.name):
                    api.set_state(LB_BACKEND, node.name, "maint")
                else:
                    _expect(
                        api, f"add server {LB_BACKEND}/{node.name} {dynamic_server_args(node)}", "New server"
                    )
                _expect(api, f"enable health {LB_BACKEND}/{node.name}", "")
                api.set_state(LB_BACKEND, node.name, "ready")
                probes.wait_for(
                    lambda n=node: _status(api, n.name) == "UP", f"HAProxy to mark {node.name} UP", 20
                )
    for node in removed:
        with progress.step(f"{node.name}: drain, wait for in-flight requests, maint"):
            if _server_exists(api, node.name):
                api.set_state(LB_BACKEND, node.name, "drain")
                probes.wait_for(
                    lambda n=node: _scur(api, n.name) == 0, f"{node.name} to drain", drain_timeout_s, 0.1
                )
                api.set_state(LB_BACKEND, node.name, "maint")
        with progress.step(f"{node.name}: remove from HAProxy (runtime API), stop"):
            if _server_exists(api, node.name):
                # del server wants no connection left, idle ones included; they close right after maint.
                probes.wait_for(
                    lambda n=node: _try_del(api, n.name), f"HAProxy to delete {node.name}", drain_timeout_s
                )
            sup.stop(node.name)
            cluster.releases.forget_node(node.name)
    if removed:
        save_overlay(cluster.paths.root, count if count != len(base.web) else None)
        with progress.step("rendering configs without " + ", ".join(n.name for n in removed)):
            new_cluster.write_configs()
            sup.update()
    progress.say(f"web nodes: {', '.join(want)}")


def _expect(api: HAProxyAPI, command: str, prefix: str) -> None:
    out = api.command(command).strip()
    if (prefix and not out.startswith(prefix)) or (not prefix and out):
        raise RuntimeError(f"HAProxy refused {command!r}: {out}")


def _rows(api: HAProxyAPI) -> dict[str, dict[str, str]]:
    return {r["svname"]: r for r in api.stats() if r["pxname"] == LB_BACKEND}


def _server_exists(api: HAProxyAPI, name: str) -> bool:
    return name in _rows(api)


def _status(api: HAProxyAPI, name: str) -> str:
    return _rows(api).get(name, {}).get("status", "")


def _scur(api: HAProxyAPI, name: str) -> int:
    return int(_rows(api).get(name, {}).get("scur", "0") or 0)


def _try_del(api: HAProxyAPI, name: str) -> bool:
    out = api.command(f"del server {LB_BACKEND}/{name}").strip()
    return out.startswith("Server deleted") or "No such server" in out
