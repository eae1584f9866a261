"""Django operations against a cluster: manage.py with a web node's environment, on that node's host.

The environment (which holds the app's secrets) travels on the command's stdin, never in argv, so it does
not show in `ps` on the host; the same command runs here for the loopback cluster and over SSH on a fleet.
"""

from __future__ import annotations

import os
import shlex
import subprocess

from ..model.release import Release
from ..model.topology import Node
from ..render.django_env import web_environment
from .context import Cluster
from .state import ClusterError

# Reads KEY='value' lines from stdin into the environment, then runs manage.py with the given arguments.
_RUN_WITH_ENV = 'set -a; eval "$(cat)"; set +a; cd "$1"; shift; exec "$@"'


def django_env(cluster: Cluster, node: Node | None = None) -> dict[str, str]:
    """The process environment plus what a web node's Django learns about its world (this machine), running
    the live release."""
    node = node or cluster.topo.by_role("web")[0]
    env = dict(os.environ)
    env.update(web_environment(cluster.topo, node, cluster.paths, cluster.secrets, cluster.live_release()))
    return env


def run_manage(
    cluster: Cluster,
    args: list[str],
    release: Release | None = None,
    extra: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """The project's ``manage.py args`` on the first web node's host, with that node's environment and
    ``release``'s code and Python (default: the live release)."""
    node = cluster.topo.by_role("web")[0]
    paths = cluster.place.host_paths(node)
    there = cluster.place.release_on(node, release or cluster.live_release())
    env = {**web_environment(cluster.topo, node, paths, cluster.secrets, there), **(extra or {})}
    env_lines = "".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items())
    argv = ["sh", "-c", _RUN_WITH_ENV, "manage", str(there.app), str(there.python), "manage.py", *args]
    return cluster.place.transport(node).run(argv, input=env_lines, timeout=timeout, check=False)


def manage(cluster: Cluster, args: list[str], quiet: bool = False, timeout: float = 600) -> str:
    """manage.py ``args`` with the live release; a failure raises with its output's tail."""
    out = run_manage(cluster, args, timeout=timeout)
    if out.returncode != 0:
        detail = (out.stderr or out.stdout or "").strip()[-2000:]
        raise ClusterError(f"manage.py {' '.join(args)} failed (exit {out.returncode}): {detail}")
    if not quiet:
        print(out.stdout, end="")
    return out.stdout


def has_command(release: Release, name: str) -> bool:
    """Whether the project's own apps define management command ``name`` (e.g. the example's seed_demo)."""
    return any(release.app.glob(f"**/management/commands/{name}.py"))
