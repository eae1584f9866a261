"""What a node needs on its host, as plain data: its program, its files and its directories.

Role modules build these; the supervisord and systemd renderers turn a :class:`Program` into
process-manager config; host preparation creates :class:`Dir` and writes :class:`ConfigFile`.
Nothing here starts, writes or reads anything.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

# How a program takes a changed config file: a signal it reloads on, or a restart.
RESTART = "restart"


@dataclass(frozen=True)
class Program:
    name: str
    role: str
    argv: tuple[str, ...]
    # Set from the role's declaration (deploy/roles/nodes.py program_for): never root.
    user: str = "nobody"
    # Capabilities it keeps (systemd: AmbientCapabilities and CapabilityBoundingSet); none by default.
    capabilities: tuple[str, ...] = ()
    # The only folders it may write under systemd's ProtectSystem=strict (its own data, run and log dirs).
    writable: tuple[str, ...] = ()
    priority: int = 50
    # Seconds a process must stay up to count as started.
    startsecs: int = 1
    # Seconds between SIGTERM and SIGKILL on stop.
    stopwaitsecs: int = 10
    stopsignal: str = "TERM"
    # Send the stop signal to the whole process group (children too).
    stopasgroup: bool = True
    # Where supervisord writes the program's stdout/stderr ("" = the node's log file).
    stdout_logfile: str = ""
    # Started by the process manager when it starts; False leaves the start to the orchestrator.
    autostart: bool = True
    directory: str = ""
    environment: dict[str, str] = field(default_factory=dict, hash=False)
    # A changed config file: signal name (supervisord's signalProcess, systemd's ExecReload) or RESTART.
    reload: str = RESTART

    @property
    def command(self) -> str:
        # supervisord expands %(name)s in commands: a literal % must be doubled.
        return shlex.join(self.argv).replace("%", "%%")

    @property
    def environment_line(self) -> str:
        """supervisord's KEY="value",... form (quotes escaped, % doubled)."""

        def quote(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'

        return ",".join(f"{key}={quote(value)}" for key, value in self.environment.items())


@dataclass(frozen=True)
class Command:
    """A command to run on a node's host; ``input`` (its stdin) carries any secret, never the argv,
    which every local user can read in /proc."""

    argv: tuple[str, ...]
    input: str = ""


@dataclass(frozen=True)
class ConfigFile:
    path: Path
    content: str
    mode: int = 0o644
    owner: str = "root"
    # The program that must be reloaded (or restarted) when this file changes ("" = none).
    program: str = ""


@dataclass(frozen=True)
class Dir:
    """A directory a node needs before its program starts."""

    path: Path
    mode: int = 0o755
    owner: str = "root"
