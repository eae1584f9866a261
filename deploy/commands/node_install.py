"""`python -m deploy node-install NODE`: set up one node of a production topology on this host.

Renders that node's configs from the topology (the same builders as the local cluster), its systemd
unit and, when it has one, a root-only environment file; prepares only the directories its own role
needs; then enables and starts the unit when systemd runs this host, and applies a config change the
way the role says: `systemctl reload` for roles that reload on a signal (Patroni, HAProxy lb, nginx),
`try-restart` for the others. Terraform's user data calls it on each instance (docs/AWS.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from ..clients.supervisor import Supervisor
from ..model.paths import StatePaths
from ..model.secrets import Secrets, load_or_create, load_role_file, save_role_file
from ..model.tls import cert_file
from ..model.topology import Node, Topology
from ..model.units import RESTART, ConfigFile, Program
from ..render.systemd import render_env_file, render_unit, unit_name
from ..roles import ROLES, role_of
from ..roles.base import RenderContext
from ..roles.nodes import node_files, program_for, sidecars_for, supervisord_file
from . import hosts, pki, supervision
from .releases import ReleaseError, ReleaseStore
from .scale import scaled
from .state import ClusterError

# What uWSGI expands in its config values (`%n` is the node's name, `$(VAR)` the environment, `@(file)`
# a file's content): a secret holding one would differ from node to node or from what was generated.
UWSGI_MAGIC = ("%", "$(", "@(")


def check_secrets(secrets: Secrets) -> Secrets:
    for name, value in asdict(secrets).items():
        bad = next((m for m in UWSGI_MAGIC if m in value), None)
        if bad:
            raise ClusterError(
                f"secret {name} contains {bad!r}, which uWSGI expands in its env lines: generate it "
                "from letters and digits (terraform/main.tf does) and store it again"
            )
    return secrets


def read_secrets(source: str) -> Secrets:
    """The cluster secret from a JSON file, or from stdin for ``-`` (how tiers-sync hands it over)."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
        return check_secrets(Secrets(**json.loads(text)))
    except (OSError, ValueError, TypeError) as exc:
        raise ClusterError(f"cannot read secrets from {source}: {exc}") from None


def load_secrets(topo: Topology, paths: StatePaths, secrets_file: str | None, role: str) -> Secrets:
    """The secrets ``role`` receives (all withheld when it receives none: no secrets file needed).

    Given a file (or stdin), this host keeps the role's fields, and only those, in its role file
    (0600), so a later node-install of the role needs no file; the rest of what it read is dropped.
    """
    needed = ROLES[role].secrets
    if not needed:
        return Secrets.none()
    if secrets_file:
        secrets = read_secrets(secrets_file).only(needed)
        save_role_file(paths.role_secrets(role), secrets, needed)
        return secrets
    if paths.role_secrets(role).exists():
        return load_role_file(paths.role_secrets(role)).only(needed)
    if topo.cluster.profile == "production":
        raise ClusterError(
            "a production node needs its secrets: pass --secrets FILE (or -, stdin) or set TIERS_SECRETS "
            "(a JSON object with the fields of deploy.model.secrets.Secrets)"
        )
    return load_or_create(paths.secrets).only(needed)


def release_context(paths: StatePaths, node: Node, version: str) -> dict:
    """The node runs release ``version`` from this host's own releases folder ("" = the code it was installed with)."""
    if not version:
        return {}
    try:
        release = ReleaseStore(paths.root).get(version)
    except ReleaseError as exc:
        raise ClusterError(f"{exc}: ship it to this host first (`deploy` does)") from None
    return {"node_releases": {node.name: release}, "worker_release": release}


def node_files_for_host(
    ctx: RenderContext, node_name: str, systemd_dir: Path
) -> tuple[Program, list[ConfigFile]]:
    """Every file this node needs: its configs, its unit, its environment file (pure)."""
    node = ctx.topo.node(node_name)
    program = program_for(ctx, node)
    files = node_files(ctx, node)
    env_file = ctx.paths.conf_file(f"{node.name}.env") if program.environment else None
    if env_file is not None:
        files.append(ConfigFile(env_file, render_env_file(program.environment), 0o600))
    files.append(
        ConfigFile(systemd_dir / unit_name(program), render_unit(program, ctx.topo.cluster.name, env_file))
    )
    for sidecar in sidecars_for(ctx, node):  # a helper beside the node (e.g. the DB tier's backup schedule)
        files.append(
            ConfigFile(systemd_dir / unit_name(sidecar), render_unit(sidecar, ctx.topo.cluster.name))
        )
    return program, files


def node_install(
    topo: Topology,
    node_name: str,
    state_base: Path,
    systemd_dir: Path,
    secrets_file: str | None = None,
    enable: bool = True,
    manager: str = "systemd",
    release: str = "",
    web_count: int = 0,
) -> list[Path]:
    topo = scaled(topo, web_count or None)  # a fleet running fewer of its web hosts (`scale`)
    paths = StatePaths.for_cluster(topo.cluster.name, state_base)
    node = topo.node(node_name)
    if node.managed:
        raise ClusterError(
            f"{node_name} is a managed service's endpoint ({node.address}): nothing of ours runs there; "
            "install the nodes that run on this cluster's own hosts"
        )
    role = role_of(node)
    secrets = load_secrets(topo, paths, secrets_file or os.environ.get("TIERS_SECRETS"), role.name)
    ctx = RenderContext(topo=topo, paths=paths, secrets=secrets, **release_context(paths, node, release))
    hosts.ensure_users([role.user, *role.users])  # its account, before anything is handed to it
    hosts.make_dirs(hosts.dirs_for(paths, [node]))
    hosts.remove_leftovers(paths, [node])
    # A TLS node starts with the operator's certificate file or, until ACME's first run, a local CA's.
    renewed = [cert_file(paths, topo.node(n)) for n in pki.ensure_certificates(topo, paths, [node])]
    if manager == "supervisord":
        return _under_supervisord(ctx, node, renewed)
    program, files = node_files_for_host(ctx, node_name, systemd_dir)
    written = [cf.path for cf in files if hosts.write_if_changed(cf)] + renewed
    unit = unit_name(program)
    if enable and Path("/run/systemd/system").exists():
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        subprocess.run(["systemctl", "enable", "--now", unit], check=True)
        for sidecar in sidecars_for(ctx, node):
            subprocess.run(["systemctl", "enable", "--now", unit_name(sidecar)], check=True)
            if systemd_dir / unit_name(sidecar) in written:
                subprocess.run(["systemctl", "try-restart", unit_name(sidecar)], check=True)
        if written:
            action = "try-restart" if program.reload == RESTART else "reload"
            subprocess.run(["systemctl", action, unit], check=True)
        print(f"{unit} enabled and running")
    else:
        print(f"systemd is not running this host: start it with `systemctl enable --now {unit}` where it is")
    return written


def _under_supervisord(ctx: RenderContext, node: Node, renewed: list[Path]) -> list[Path]:
    """A host whose PID 1 is not systemd (a rehearsal host): the same program under its own supervisord.

    The first install starts supervisord (which starts the program unless the role leaves the start to
    the orchestrator, as the DB tier does); later ones apply changes the way the role reloads.
    """
    files = [*node_files(ctx, node), supervisord_file(ctx, [node])]
    written = [cf.path for cf in files if hosts.write_if_changed(cf)]
    changed = {cf.program for cf in files if cf.path in written and cf.program}
    if renewed:  # a new certificate is taken like a changed config
        changed.add(node.name)
        written += renewed
    supervision.start_or_apply(Supervisor(ctx.paths), ctx.paths, ctx.topo, changed)
    print(f"{node.name}: runs under this host's supervisord")
    return written


def host_kill(topo: Topology, node_name: str, state_base: Path) -> None:
    """`kill` of one node, run on its own host (its processes are only visible there)."""
    paths = StatePaths.for_cluster(topo.cluster.name, state_base)
    supervision.kill(Supervisor(paths), paths, topo.node(node_name))
