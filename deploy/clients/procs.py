"""Local processes by pid: is one still running, which one a pid file names, its descendants, its CPUs."""

from __future__ import annotations

import os
from pathlib import Path


def stat(pid: int) -> tuple[str, list[str]]:
    """``pid``'s command name and the fields after it in /proc/<pid>/stat: state [0], parent [1], utime
    [11], stime [12] (in clock ticks). The name may hold spaces and parentheses: split at the last ')'."""
    name, rest = Path(f"/proc/{pid}/stat").read_text().split("(", 1)[1].rsplit(")", 1)
    return name, rest.split()


def alive(pid: int) -> bool:
    """The process runs: it exists and is not a zombie (exited, not yet reaped by its parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return stat(pid)[1][0] != "Z"
    except FileNotFoundError:
        return False  # gone since the signal
    except (OSError, IndexError):
        return True  # signalled fine, state unreadable: treat as running


def pid_in(pidfile: Path) -> int | None:
    """The process a pid file names (its first word), if it still runs."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if alive(pid) else None


def child_map() -> dict[int, list[int]]:
    """Every process's children (parent pid -> child pids): one pass over /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(stat(int(entry.name))[1][1])
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        children.setdefault(parent, []).append(int(entry.name))
    return children


def tree(root: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """``root`` and every process descended from it, root first (``children``: a child_map() to reuse
    for several roots; read afresh otherwise)."""
    children = child_map() if children is None else children
    found, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        found.append(pid)
        todo.extend(sorted(children.get(pid, [])))
    return found


def pin(pids: list[int], cpus: set[int]) -> None:
    """Restrict every thread of every process in ``pids`` to ``cpus`` (threads started later inherit it).

    A process or thread that exits meanwhile is skipped."""
    for pid in pids:
        try:
            threads = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
        except OSError:
            continue
        for tid in threads:
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:
                continue
