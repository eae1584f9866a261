"""`python -m deploy node-install NODE`: set up one node of a production topology on this host.

Renders that node's configs from the topology (the same builders as the local cluster), its systemd unit
and, when it has one, a root-only environment file; then enables and starts the unit when systemd runs
this host. Terraform's user data calls it on each instance (docs/AWS.md).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .cluster import Cluster, ClusterError, write_if_changed
from .configs import ConfigFile, render_all
from .paths import StatePaths
from .programs import program_for
from .render.systemd import render_env_file, render_unit, unit_name
from .secrets import Secrets, load_or_create
from .topology import Topology

# Roles whose rendered files or environment hold secrets; the others install without a secrets file.
SECRET_ROLES = {"web", "worker", "db", "s3"}


def load_secrets(topo: Topology, paths: StatePaths, secrets_file: str | None, role: str) -> Secrets:
    if role not in SECRET_ROLES:
        return Secrets.placeholder()
    if secrets_file:
        try:
            return Secrets(**json.loads(Path(secrets_file).read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise ClusterError(f"cannot read secrets from {secrets_file}: {exc}") from None
    if topo.cluster.profile == "production":
        raise ClusterError(
            "a production node needs its secrets: pass --secrets FILE or set TIERS_SECRETS "
            "(a JSON object with the fields of deploy.secrets.Secrets)"
        )
    return load_or_create(paths.secrets)


def node_files(
    topo: Topology, node_name: str, paths: StatePaths, secrets: Secrets, systemd_dir: Path
) -> list[ConfigFile]:
    """Every file this node needs: its configs, its unit, its environment file (pure)."""
    node = topo.node(node_name)
    files = [cf for cf in render_all(topo, paths, secrets) if cf.program == node.name]
    if node.role == "db":
        files += [cf for cf in render_all(topo, paths, secrets) if cf.path.name == "patronictl.yml"]
    program = program_for(topo, node, paths, secrets)
    env_file = paths.conf_file(f"{node.name}.env") if program.environment else None
    if env_file is not None:
        files.append(ConfigFile(env_file, render_env_file(program.environment), 0o600))
    files.append(
        ConfigFile(systemd_dir / unit_name(program), render_unit(program, topo.cluster.name, env_file))
    )
    return files


def node_install(
    topo: Topology,
    node_name: str,
    state_base: Path,
    systemd_dir: Path,
    secrets_file: str | None = None,
    enable: bool = True,
) -> list[Path]:
    paths = StatePaths.for_cluster(topo.cluster.name, state_base)
    cluster = Cluster(topo, paths)
    role = topo.node(node_name).role
    secrets = load_secrets(topo, paths, secrets_file or os.environ.get("TIERS_SECRETS"), role)
    files = node_files(topo, node_name, paths, secrets, systemd_dir)
    cluster.prepare_dirs()
    written = [cf.path for cf in files if write_if_changed(cf)]
    unit = unit_name(program_for(topo, topo.node(node_name), paths, secrets))
    if enable and Path("/run/systemd/system").exists():
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        subprocess.run(["systemctl", "enable", "--now", unit], check=True)
        if written:
            subprocess.run(["systemctl", "try-restart", unit], check=True)
        print(f"{unit} enabled and running")
    else:
        print(f"systemd is not running this host: start it with `systemctl enable --now {unit}` where it is")
    return written
