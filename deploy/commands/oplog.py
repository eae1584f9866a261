"""Every long operation's log and lock: one at a time per cluster, each line also in deploy.log.

A lock file (fcntl) makes a second deploy, rollback or scale refuse to start instead of waiting;
every line of progress also goes to ``var/<cluster>/log/deploy.log``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from ..model.paths import StatePaths
from .progress import Progress


class LockedError(RuntimeError):
    """Another deploy, rollback or scale holds the cluster's operation lock."""


class Tee:
    """A text stream writing to the terminal and appending to the deploy log."""

    def __init__(self, log_path: Path, stream: TextIO | None = None) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.stream = stream or sys.stdout
        self.log = log_path.open("a")

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.log.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
        self.log.flush()

    def close(self) -> None:
        self.log.close()


@contextlib.contextmanager
def deploy_lock(path: Path) -> Iterator[None]:
    """Exclusive, non-blocking: a second deploy/rollback/scale refuses instead of waiting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise LockedError(
                f"another deploy, rollback or scale is running ({holder}); lock {path}"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def operation(paths: StatePaths, title: str) -> Iterator[Progress]:
    """Lock + a Progress whose lines also go to the deploy log."""
    tee = Tee(paths.log / "deploy.log")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    tee.log.write(f"\n=== {stamp} {title}\n")
    try:
        with deploy_lock(paths.run / "deploy.lock"):
            progress = Progress(title, stream=tee)
            try:
                yield progress
            except BaseException as exc:
                tee.log.write(f"=== FAILED after {progress.elapsed():.1f}s: {exc}\n")
                raise
            progress.say(f"done in {progress.elapsed():.1f}s")
    finally:
        tee.close()
