"""Django operations against a cluster: manage.py with a node's environment, static fingerprint."""

from __future__ import annotations

import hashlib
import os
import subprocess

import django

from ..model.topology import Node
from ..render.django_env import web_environment
from .context import Cluster, ClusterError
from .releases import static_hash


def django_env(cluster: Cluster, node: Node | None = None) -> dict[str, str]:
    """The process environment plus what a web node's Django learns about its world."""
    node = node or cluster.topo.by_role("web")[0]
    env = dict(os.environ)
    env.update(web_environment(cluster.topo, node, cluster.paths, cluster.secrets))
    env["PYTHONPATH"] = str(cluster.paths.app)
    return env


def manage_argv(cluster: Cluster, args: list[str]) -> list[str]:
    return [str(cluster.paths.venv / "bin" / "python"), str(cluster.paths.app / "manage.py"), *args]


def manage(cluster: Cluster, args: list[str], quiet: bool = False) -> None:
    """manage.py ``args`` with the working tree's code; a failure raises with its output's tail."""
    out = subprocess.run(
        manage_argv(cluster, args),
        env=django_env(cluster),
        cwd=cluster.paths.app,
        capture_output=quiet,
        text=True,
    )
    if out.returncode != 0:
        detail = (out.stderr or out.stdout or "").strip()[-2000:] if quiet else ""
        raise ClusterError(
            f"manage.py {' '.join(args)} failed (exit {out.returncode}){': ' + detail if detail else ''}"
        )


def has_command(cluster: Cluster, name: str) -> bool:
    return any(cluster.paths.app.glob(f"*/management/commands/{name}.py"))


def static_fingerprint(cluster: Cluster) -> str:
    """Changes whenever collectstatic would upload something else: our static files or Django's admin."""
    return hashlib.sha256(f"{django.get_version()}\0{static_hash(cluster.paths.app)}".encode()).hexdigest()
