"""Host preparation: what must be true on a machine before a node's program starts there.

Checks (binaries, users, root), directories with their owners and modes, and config files written
only when they changed (atomically, with owner and mode set before they appear). Everything is
derived from the nodes' role declarations, so a host prepares only what its own nodes need.
"""

from __future__ import annotations

import contextlib
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
    """Binaries, OS users and the right to start them: a clear error before anything else changes.

    The one change it makes: a role's account that no package brought is created (`ensure_users`).
    """
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
    ensure_users(sorted({u for r in roles for u in (r.user, *r.users)}))
    checked: set[tuple[str, str]] = set()
    for program in programs:
        if program.user == "root":
            raise HostError(f"{program.name}: a node's program never runs as root (its role's `user`)")
        executable = _executable(program.argv)
        if (program.user, executable) in checked:  # web1..N, queue nodes: one probe per user and binary
            continue
        checked.add((program.user, executable))
        probe = subprocess.run(["runuser", "-u", program.user, "--", "test", "-x", executable])
        if probe.returncode != 0:
            raise HostError(
                f"the {program.user} user cannot run {executable} ({program.name}): every folder above "
                "the repository must be readable by other users (chmod o+rx), or clone it under /srv or /opt."
            )


def _executable(argv: tuple[str, ...] | list[str]) -> str:
    """The program an argv runs: past ``env NAME=VALUE...`` (project_python's prefix)."""
    rest = list(argv)
    if rest and rest[0] == "env":
        rest = [a for a in rest[1:] if "=" not in a] or rest
    return rest[0]


def ensure_users(users: Iterable[str]) -> None:
    """Each user exists: the ones Debian's packages bring (postgres, haproxy, etcd...) are left as they
    are; a missing one is created as a locked system account with its own group, no home and no shell."""
    for user in users:
        try:
            pwd.getpwnam(user)
        except KeyError:
            argv = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                    "--shell", "/usr/sbin/nologin", "--comment", "Tiers service account", user]  # fmt: skip
            out = subprocess.run(argv, capture_output=True, text=True)
            # exit 9: created meanwhile by a concurrent run (same name), which is what we wanted.
            if out.returncode not in (0, 9):
                raise HostError(f"cannot create the OS user {user!r}: {out.stderr.strip()}") from None


def _owner_ids(owner: str) -> tuple[int, int]:
    pw = pwd.getpwnam(owner)
    return pw.pw_uid, pw.pw_gid


def remove_leftovers(paths: StatePaths, nodes: Iterable[Node]) -> None:
    """Remove what an earlier run left outside the nodes' folders that another account owns (their own
    are in use, or the program replaces them itself)."""
    for node in nodes:
        role = role_of(node)
        uid = _owner_ids(role.user)[0]
        for path in role.leftovers(paths, node):
            with contextlib.suppress(FileNotFoundError):
                if path.lstat().st_uid != uid:
                    path.unlink()


def dirs_for(paths: StatePaths, nodes: Iterable[Node]) -> list[Dir]:
    return [*state_dirs(paths), *(d for n in nodes for d in node_dirs(paths, n))]


def make_dirs(dirs: Iterable[Dir]) -> None:
    """Each directory with its owner and mode. A folder that belonged to another account (a release that
    ran the node as root) is handed over with everything in it, once: the node must read its own data."""
    for d in dirs:
        d.path.mkdir(parents=True, exist_ok=True)
        uid, gid = _owner_ids(d.owner)
        if d.path.stat().st_uid != uid:
            for top, subdirs, files in os.walk(d.path):
                for name in (*subdirs, *files):
                    os.chown(os.path.join(top, name), uid, gid, follow_symlinks=False)
        os.chown(d.path, uid, gid)
        d.path.chmod(d.mode)


def write_if_changed(cf: ConfigFile) -> bool:
    """Write ``cf`` unless it already holds that content; owner and mode are set before the rename.

    The file is created with its mode (never wider, whatever the umask: a secret is never readable by
    others, not even briefly) and owned by root until the chown. An unchanged file whose owner or mode
    differs (an older release's) gets them corrected in place.
    """
    cf.path.parent.mkdir(parents=True, exist_ok=True)
    uid, gid = _owner_ids(cf.owner)
    if cf.path.exists() and cf.path.read_text() == cf.content:
        st = cf.path.stat()
        if (st.st_uid, st.st_gid) != (uid, gid) or st.st_mode & 0o7777 != cf.mode:
            os.chmod(cf.path, cf.mode & st.st_mode)  # narrow first, then hand over, then the exact mode
            os.chown(cf.path, uid, gid)
            os.chmod(cf.path, cf.mode)
        return False
    tmp = cf.path.with_name(cf.path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # a leftover would keep its old mode: O_CREAT sets the mode only on creation
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, cf.mode)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), cf.mode)  # the umask may have narrowed it further: exactly this mode
        fh.write(cf.content)
        os.fchown(fh.fileno(), uid, gid)
    os.replace(tmp, cf.path)
    return True


def write_files(files: Iterable[ConfigFile]) -> set[str]:
    """Write what changed; return the programs whose config changed."""
    return {cf.program for cf in files if write_if_changed(cf) and cf.program}
