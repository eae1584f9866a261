"""Host preparation: what must be true on a machine before a node's program starts there.

Checks (binaries, users, root), directories with their owners and modes, and config files written
only when they changed (atomically, with owner and mode set before they appear). Everything is
derived from the nodes' role declarations, so a host prepares only what its own nodes need.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterable
from pathlib import Path

from ..model.paths import StatePaths
from ..model.topology import Node
from ..model.units import ConfigFile, Dir, Program
from ..roles import role_of
from ..roles.nodes import node_dirs, state_dirs


class HostError(RuntimeError):
    """This host cannot run its nodes yet; the message says what to install or change."""


def preflight(nodes: Iterable[Node], programs: Iterable[Program]) -> None:
    """Binaries, OS users and the right to start them: a clear error before anything changes."""
    nodes = list(nodes)
    roles = {role_of(n).name: role_of(n) for n in nodes}.values()
    # A role's binaries come from its packages: name them all when one binary is missing.
    missing = sorted({p for r in roles if any(not Path(b).exists() for b in r.binaries) for p in r.packages})
    if missing:
        raise HostError(
            f"missing Debian packages: {' '.join(missing)}. Run `make up` (it installs them) "
            f"or `apt-get install {' '.join(missing)}`."
        )
    if os.geteuid() != 0:
        raise HostError("starting nodes needs root (each program then runs as its own user)")
    for user in sorted({u for r in roles for u in r.users}):
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise HostError(f"no OS user {user!r}: it comes with the role's Debian packages") from None
    for program in programs:
        if program.user == "root":
            continue
        probe = subprocess.run(["runuser", "-u", program.user, "--", "test", "-x", program.argv[0]])
        if probe.returncode != 0:
            raise HostError(
                f"the {program.user} user cannot run {program.argv[0]} ({program.name}): every folder above "
                "the repository must be readable by other users (chmod o+rx), or clone it under /srv or /opt."
            )


def dirs_for(paths: StatePaths, nodes: Iterable[Node]) -> list[Dir]:
    return [*state_dirs(paths), *(d for n in nodes for d in node_dirs(paths, n))]


def make_dirs(dirs: Iterable[Dir]) -> None:
    for d in dirs:
        d.path.mkdir(parents=True, exist_ok=True)
        if d.owner != "root":
            pw = pwd.getpwnam(d.owner)
            os.chown(d.path, pw.pw_uid, pw.pw_gid)
        d.path.chmod(d.mode)


def write_if_changed(cf: ConfigFile) -> bool:
    """Write ``cf`` unless it already holds that content; owner and mode are set before the rename."""
    cf.path.parent.mkdir(parents=True, exist_ok=True)
    if cf.path.exists() and cf.path.read_text() == cf.content:
        return False
    tmp = cf.path.with_name(cf.path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, cf.mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(cf.content)
    tmp.chmod(cf.mode)
    if cf.owner != "root":
        pw = pwd.getpwnam(cf.owner)
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    os.replace(tmp, cf.path)
    return True


def write_files(files: Iterable[ConfigFile]) -> set[str]:
    """Write what changed; return the programs whose config changed."""
    return {cf.program for cf in files if write_if_changed(cf) and cf.program}
