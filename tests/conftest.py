"""Shared fixtures. The integration cluster is started once per session on the 127.1.x.y block.

TIERS_TEST_TOPOLOGY=FILE runs them against another topology of the same shape (other addresses).
Set TIERS_KEEP_TEST_CLUSTER=1 to leave it running after the tests (the next run reuses it: `up`
is idempotent); `python -m deploy -t deploy/topologies/test.toml clean` removes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.commands.context import Cluster
from deploy.model.paths import REPO, StatePaths
from deploy.roles import load

# Another topology (same shape, other addresses) can be given to run the suite beside this one.
TEST_TOPOLOGY = Path(os.environ.get("TIERS_TEST_TOPOLOGY", REPO / "deploy" / "topologies" / "test.toml"))


def deploy_cli(
    *args: str, check: bool = True, timeout: float = 600, topology: Path = TEST_TOPOLOGY
) -> subprocess.CompletedProcess[str]:
    """`python -m deploy` against the test cluster (or another ``topology``); a failure shows its output."""
    out = subprocess.run(
        [sys.executable, "-m", "deploy", "--topology", str(topology), *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if check and out.returncode != 0:
        raise AssertionError(
            f"deploy {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
        )
    return out


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    topo = load(TEST_TOPOLOGY)
    c = Cluster(topo, StatePaths.for_cluster(topo.cluster.name))
    try:
        out = deploy_cli("up")
        print(out.stdout)
        yield c
    finally:  # a failed `up` too: its processes would outlive the run
        stop_test_cluster(c)


def stop_test_cluster(c: Cluster) -> None:
    """`clean`, after keeping the logs (unless TIERS_KEEP_TEST_CLUSTER=1)."""
    topo = c.topo
    if os.environ.get("TIERS_KEEP_TEST_CLUSTER") != "1":
        # Keep the logs of the last run (var/<cluster>-last-logs/) for a look after a failure.
        kept = c.paths.root.parent / f"{topo.cluster.name}-last-logs"
        shutil.rmtree(kept, ignore_errors=True)
        if c.paths.log.exists():
            shutil.copytree(c.paths.log, kept, ignore_dangling_symlinks=True)
        # A failed clean leaves processes behind for the next run (a postmaster once outlived its store):
        # the session reports it as an error instead of hiding it.
        deploy_cli("clean", topology=Path(topo.source))
