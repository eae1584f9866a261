"""Progress lines for long operations: elapsed time, step, result."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Progress:
    def __init__(self, title: str, stream=None) -> None:
        self.stream = stream or sys.stdout
        self.start = time.monotonic()
        self.say(title)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def say(self, text: str) -> None:
        print(f"[{self.elapsed():6.1f}s] {text}", file=self.stream, flush=True)

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        began = time.monotonic()
        print(f"[{self.elapsed():6.1f}s] {text} ...", end="", file=self.stream, flush=True)
        try:
            yield
        except BaseException:
            print(" FAILED", file=self.stream, flush=True)
            raise
        print(f" ok ({time.monotonic() - began:.1f}s)", file=self.stream, flush=True)
