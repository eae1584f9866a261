"""deploy.clients.procs against real processes of this machine."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from deploy.clients.procs import alive, child_map, stat, tree


def test_stat_reads_a_name_with_spaces_and_parentheses(tmp_path: Path) -> None:
    """The command name is whatever the binary is called: split /proc/<pid>/stat at its last ')'."""
    odd = tmp_path / "sl) (eep"
    odd.symlink_to("/bin/sleep")
    child = subprocess.Popen([str(odd), "30"])
    try:
        name, fields = stat(child.pid)
        assert name == "sl) (eep"
        assert fields[0] in ("R", "S") and int(fields[1]) == os.getpid()
        assert child.pid in child_map()[os.getpid()]
        assert tree(os.getpid())[0] == os.getpid() and child.pid in tree(os.getpid())
    finally:
        child.kill()
        child.wait(timeout=5)


def test_a_zombie_is_not_alive() -> None:
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while stat(child.pid)[1][0] != "Z" and time.monotonic() < deadline:  # exited, not reaped yet
        time.sleep(0.01)
    assert not alive(child.pid)
    child.wait(timeout=5)
    assert not alive(child.pid)
