"""Helpers for integration tests: URLs of nodes, making events, waiting."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from deploy.commands.context import Cluster
from deploy.model.paths import REPO
from deploy.model.topology import Node
from tests.conftest import deploy_cli


def url(node: Node) -> str:
    return f"http://{node.address}:{node.port}"


def lb(cluster: Cluster) -> str:
    return url(cluster.topo.one("lb"))


def web(cluster: Cluster, i: int) -> str:
    return url(cluster.topo.by_role("web")[i])


def manage_py(code: str, node: str = "web1") -> str:
    """Run Python in Django (with a web node's environment) and return what it printed last."""
    out = deploy_cli("manage", "--node", node, "shell", "--no-imports", "-c", code).stdout.strip()
    return out.splitlines()[-1] if out else ""


def create_event(capacity: int, title: str = "Onsale rush", max_per_buyer: int | None = None) -> int:
    """A published event; one buyer may hold ``max_per_buyer`` tickets of it (default: all of them)."""
    cap = max(1, capacity) if max_per_buyer is None else max_per_buyer
    code = (
        "import datetime, json; from django.utils import timezone; from boxoffice.models import Event; "
        f"e = Event.objects.create(title={json.dumps(title)}, venue='Hall', capacity={capacity}, price='10.00', "
        f"max_tickets_per_buyer={cap}, "
        "starts_at=timezone.now() + datetime.timedelta(days=30), published=True); print(e.id)"
    )
    return int(manage_py(code))


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(interval)


EXAMPLE = REPO / "examples" / "boxoffice"


def copy_source(dest: Path, marker: str) -> Path:
    """A changed copy of the example project (its own release: the marker changes the tree hash)."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)
    with (dest / "boxoffice_site" / "urls.py").open("a") as fh:
        fh.write(f"\n# release marker: {marker}\n")
    return dest


def deployed_version(stdout: str) -> str:
    match = re.search(r"^deployed (\S+)$", stdout, re.M)
    assert match, stdout
    return match.group(1)
