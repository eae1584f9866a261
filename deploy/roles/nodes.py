"""Generic per-node builders over the registry: programs, config files, directories. Pure.

Each reads the node's role declaration; a node's builders see only the secrets its role receives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ..model.paths import StatePaths
from ..model.topology import Node
from ..model.units import ConfigFile, Dir, Program
from ..render.supervisor import render_supervisord
from . import role_of
from .base import RenderContext


def context_for(ctx: RenderContext, node: Node) -> RenderContext:
    """``ctx`` with every secret the node's role does not receive withheld."""
    return dataclasses.replace(ctx, secrets=ctx.secrets.only(role_of(node).secrets))


def program_for(ctx: RenderContext, node: Node) -> Program:
    """The node's program as its role declares it: its user, its capabilities, the folders it may write."""
    role = role_of(node)
    program = role.program(context_for(ctx, node), node)
    return dataclasses.replace(
        program,
        name=node.name,
        role=role.name,
        priority=role.priority,
        reload=role.reload,
        user=role.user,
        capabilities=role.capabilities,
        writable=tuple(str(d.path) for d in node_dirs(ctx.paths, node) if d.owner == role.user),
    )


def sidecars_for(ctx: RenderContext, node: Node) -> list[Program]:
    """The node's helper program, if its role has one (started after the node's own program)."""
    role = role_of(node)
    if role.sidecar is None:
        return []
    return [dataclasses.replace(role.sidecar(context_for(ctx, node), node), priority=role.priority + 1)]


def programs_for(ctx: RenderContext, node: Node) -> list[Program]:
    return [program_for(ctx, node), *sidecars_for(ctx, node)]


def programs(ctx: RenderContext) -> list[Program]:
    return [p for node in ctx.topo if not node.managed for p in programs_for(ctx, node)]


def node_files(ctx: RenderContext, node: Node) -> list[ConfigFile]:
    return role_of(node).files(context_for(ctx, node), node)


def supervisord_file(ctx: RenderContext, nodes: Iterable[Node] | None = None) -> ConfigFile:
    """The process manager's config for ``nodes`` (default: every node; a rehearsal host: its own).

    0600: it holds the programs' environments.
    """
    progs = programs(ctx) if nodes is None else [p for n in nodes for p in programs_for(ctx, n)]
    text = render_supervisord(ctx.topo.cluster.name, progs, ctx.paths)
    return ConfigFile(ctx.paths.conf_file("supervisord.conf"), text, 0o600)


def render_all(ctx: RenderContext) -> list[ConfigFile]:
    """Every config file of a cluster on one machine: supervisord's and each node's (shared ones once)."""
    files = [supervisord_file(ctx)]
    seen = {files[0].path}
    for node in (n for n in ctx.topo if not n.managed):  # a managed service has no files of ours
        for cf in node_files(ctx, node):
            if cf.path not in seen:
                seen.add(cf.path)
                files.append(cf)
    return files


def state_dirs(paths: StatePaths) -> list[Dir]:
    """The state folder's own layout (deploy/model/paths.py); others traverse it to their own dirs."""
    return [Dir(d, 0o755) for d in (paths.root, paths.conf, paths.run, paths.log, paths.root / "data")]


def node_dirs(paths: StatePaths, node: Node) -> list[Dir]:
    """The node's own log and run folders (owned by its user, who writes and rotates its log file
    there) and what its role adds."""
    role = role_of(node)
    own = [
        Dir(paths.log_file(node.name).parent, 0o750, role.user),
        Dir(paths.socket_dir(node.name), 0o755, role.user),
    ]
    return [*own, *role.dirs(paths, node)]
