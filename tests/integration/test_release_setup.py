"""`manage.py release_setup`: migrations and collectstatic once per release, whichever web node comes first.

Two web nodes run it for the same release at the same moment (as freshly booted AWS hosts do, tiers-sync):
exactly one does the work under the PostgreSQL advisory lock, the other waits and finds it recorded.
Without the lock both would run and the second's record would collide with the first's (an error).
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from deploy.model.paths import REPO
from tests.conftest import TEST_TOPOLOGY, deploy_cli

pytestmark = pytest.mark.integration

DONE = "migrated and static files collected"
ALREADY = "set up already"


def test_release_setup_runs_once_per_release_under_the_lock(cluster) -> None:
    release = f"test-{uuid.uuid4().hex[:12]}"
    argv = [sys.executable, "-m", "deploy", "--topology", str(TEST_TOPOLOGY), "manage", "--node"]
    runs = [
        subprocess.Popen([*argv, node, "release_setup", "--release", release], cwd=REPO, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for node in ("web1", "web2")
    ]  # fmt: skip
    outs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outs
    said = [out for out, _err in outs]
    assert sum(DONE in s for s in said) == 1 and sum(ALREADY in s for s in said) == 1, said
    # The same release later (a host replaced, tiers-sync again): nothing to do.
    assert ALREADY in deploy_cli("manage", "--node", "web1", "release_setup", "--release", release).stdout
