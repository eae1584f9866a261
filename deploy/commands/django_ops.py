"""Django operations against a cluster: manage.py with a web node's environment, on that node's host.

The environment (which holds the app's secrets) travels on the command's stdin, never in argv, so it does
not show in `ps` on the host; the same command runs here for the loopback cluster and over SSH on a fleet.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
from pathlib import Path

import django

from ..model.topology import Node
from ..render.django_env import web_environment
from .context import Cluster
from .releases import static_hash
from .state import ClusterError

# Reads KEY='value' lines from stdin into the environment, then runs manage.py with the given arguments.
_RUN_WITH_ENV = 'set -a; eval "$(cat)"; set +a; cd "$1"; shift; exec "$@"'


def django_env(cluster: Cluster, node: Node | None = None) -> dict[str, str]:
    """The process environment plus what a web node's Django learns about its world (this machine)."""
    node = node or cluster.topo.by_role("web")[0]
    env = dict(os.environ)
    env.update(_node_env(cluster, node))
    return env


def _node_env(cluster: Cluster, node: Node) -> dict[str, str]:
    paths = cluster.place.host_paths(node)
    env = web_environment(cluster.topo, node, paths, cluster.secrets)
    env["PYTHONPATH"] = str(paths.app)
    return env


def manage_argv(cluster: Cluster, args: list[str], app: Path | None = None) -> list[str]:
    """python manage.py ``args`` on the first web node's host, with ``app``'s code (default: its app/)."""
    paths = cluster.place.host_paths(cluster.topo.by_role("web")[0])
    return [str(paths.venv / "bin" / "python"), str((app or paths.app) / "manage.py"), *args]


def run_manage(
    cluster: Cluster,
    args: list[str],
    app: Path | None = None,
    extra: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """manage.py ``args`` on the first web node's host with its environment (and ``app``'s code, e.g. a release)."""
    node = cluster.topo.by_role("web")[0]
    paths = cluster.place.host_paths(node)
    app = app or paths.app
    env = {**_node_env(cluster, node), "PYTHONPATH": str(app), **(extra or {})}
    env_lines = "".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items())
    argv = ["sh", "-c", _RUN_WITH_ENV, "manage", str(app), *manage_argv(cluster, args, app)]
    return cluster.place.transport(node).run(argv, input=env_lines, timeout=timeout, check=False)


def manage(cluster: Cluster, args: list[str], quiet: bool = False, timeout: float = 600) -> str:
    """manage.py ``args`` with the working tree's code; a failure raises with its output's tail."""
    out = run_manage(cluster, args, timeout=timeout)
    if out.returncode != 0:
        detail = (out.stderr or out.stdout or "").strip()[-2000:]
        raise ClusterError(f"manage.py {' '.join(args)} failed (exit {out.returncode}): {detail}")
    if not quiet:
        print(out.stdout, end="")
    return out.stdout


def has_command(cluster: Cluster, name: str) -> bool:
    return any(cluster.paths.app.glob(f"*/management/commands/{name}.py"))


def static_fingerprint(cluster: Cluster) -> str:
    """Changes whenever collectstatic would upload something else: our static files or Django's admin."""
    return hashlib.sha256(f"{django.get_version()}\0{static_hash(cluster.paths.app)}".encode()).hexdigest()
