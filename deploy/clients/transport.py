"""Where an operator's command runs: on this machine, or on a host over OpenSSH.

Command builders elsewhere return argv lists and never run anything; a transport runs them. :class:`Local`
runs them here. :class:`SSH` runs them on one host: key-based, the host's key pinned in a known_hosts file
(never trust on first use), one master connection per host reused by every command (ControlMaster), an
optional network namespace to run the client in (the rehearsal fleet's operator namespace) and an optional
ProxyCommand (AWS: SSM Session Manager, no port 22 open). Nothing is forwarded: a unix socket on the host
(supervisord's, HAProxy's runtime API) is reached with one command per request (deploy/clients/unixsock.py).
"""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

# A host that does not answer within this many seconds is reported as unreachable.
CONNECT_TIMEOUT_S = 5
# How long an idle master connection stays open after the last command.
CONTROL_PERSIST_S = 120


class TransportError(RuntimeError):
    """A host cannot be reached or refused us; the message names the host and what to fix."""


class Transport(Protocol):
    name: str

    def run(
        self, argv: list[str], input: str | None = None, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...


def _check(name: str, argv: list[str], out: subprocess.CompletedProcess[str]) -> None:
    if out.returncode != 0:
        detail = (out.stderr or out.stdout or "").strip()[-1500:]
        raise TransportError(f"{name}: `{shlex.join(argv)}` failed (exit {out.returncode}): {detail}")


@dataclass(frozen=True)
class Local:
    """Commands on this machine (the loopback cluster's one host)."""

    name: str = "localhost"

    def run(
        self, argv: list[str], input: str | None = None, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(_as_self(argv), input=input, capture_output=True, text=True, timeout=timeout)
        if check:
            _check(self.name, argv, out)
        return out


def _as_self(argv: list[str]) -> list[str]:
    """``runuser -u U -- cmd`` run by U itself is just ``cmd``: util-linux refuses runuser to anyone not
    root, and a service that already runs as U (the DB nodes' backup sidecar, as postgres) builds the
    same argv as the operator's root shell does."""
    if len(argv) > 4 and argv[0] == "runuser" and argv[1] == "-u" and argv[3] == "--":
        try:
            if pwd.getpwnam(argv[2]).pw_uid == os.geteuid() != 0:
                return argv[4:]
        except KeyError:
            pass
    return argv


@dataclass(frozen=True)
class SSH:
    """Commands on one host over OpenSSH, through one reused master connection."""

    name: str  # the node the host runs (for messages)
    address: str
    key: Path  # the operator's private key
    known_hosts: Path  # pinned host keys: a host whose key differs is refused
    control_dir: Path  # master connection sockets
    via: tuple[str, ...] = ()  # argv prefix for the client, e.g. ("ip", "netns", "exec", "<ops ns>")
    proxy_command: str = ""
    user: str = "root"
    port: int = 22
    options: tuple[str, ...] = field(default=())

    @property
    def control_path(self) -> Path:
        return self.control_dir / f"{self.name}.ctl"

    def base_argv(self) -> list[str]:
        """ssh and every option, up to (not including) the destination."""
        argv = [
            *self.via, "ssh",
            "-i", str(self.key),
            "-p", str(self.port),
            "-o", "BatchMode=yes",  # never ask for a password or a passphrase: fail instead
            "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=yes",  # keys are pinned by the operator, not learnt
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3",
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={self.control_path}",
            "-o", f"ControlPersist={CONTROL_PERSIST_S}",
            "-o", "LogLevel=ERROR",
        ]  # fmt: skip
        if self.proxy_command:
            argv += ["-o", f"ProxyCommand={self.proxy_command}"]
        for option in self.options:
            argv += ["-o", option]
        return argv

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.address}"

    def command_argv(self, argv: list[str]) -> list[str]:
        """ssh ... host -- <argv quoted for the remote shell>."""
        return [*self.base_argv(), self.destination, "--", shlex.join(argv)]

    def exit_argv(self) -> list[str]:
        return [*self.base_argv(), "-O", "exit", self.destination]

    def connect(self) -> None:
        """Open (or reuse) the master connection; a clear error names the host and the fix."""
        self.control_dir.mkdir(parents=True, exist_ok=True)
        argv = [*self.base_argv(), self.destination, "--", "true"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=CONNECT_TIMEOUT_S + 10)
        if out.returncode != 0:
            raise TransportError(explain(self, out.stderr))

    def run(
        self, argv: list[str], input: str | None = None, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        full = self.command_argv(argv)
        out = subprocess.run(full, input=input, capture_output=True, text=True, timeout=timeout)
        if out.returncode == 255:  # ssh's own failure, not the command's
            raise TransportError(explain(self, out.stderr))
        if check:
            _check(self.name, argv, out)
        return out

    def stream(self, local_argv: list[str], argv: list[str], timeout: float = 300) -> None:
        """Pipe the output of ``local_argv`` (run here) into ``argv`` on the host, e.g. tar to tar."""
        with subprocess.Popen(local_argv, stdout=subprocess.PIPE) as producer:
            out = subprocess.run(
                self.command_argv(argv),
                stdin=producer.stdout,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        if out.returncode == 255:
            raise TransportError(explain(self, out.stderr))
        if producer.returncode != 0 or out.returncode != 0:
            raise TransportError(
                f"{self.name}: `{shlex.join(local_argv)} | {shlex.join(argv)}` failed: {out.stderr.strip()}"
            )

    def close(self) -> None:
        subprocess.run(self.exit_argv(), capture_output=True, text=True, timeout=15)


def explain(host: SSH, stderr: str) -> str:
    """ssh's complaint as a sentence that names the host and what to do about it."""
    text = stderr.strip()
    where = f"host {host.name} ({host.destination}, port {host.port})"
    if "Permission denied" in text:
        return (
            f"{where} refused the key {host.key}: its authorized_keys must hold {host.key}.pub "
            f"(ssh said: {text})"
        )
    if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
        return (
            f"{where} presented a host key that is not the one pinned in {host.known_hosts}: "
            f"if the host was rebuilt, pin its new key; otherwise do not connect (ssh said: {text})"
        )
    if any(s in text for s in ("timed out", "No route to host", "Connection refused", "unreachable")):
        return f"{where} is unreachable: is it up and is sshd running there? (ssh said: {text})"
    return f"{where}: ssh failed: {text or 'no message'}"
