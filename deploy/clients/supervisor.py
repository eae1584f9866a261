"""Talk to one cluster's supervisord over its unix socket (XML-RPC)."""

from __future__ import annotations

import contextlib
import subprocess
import xmlrpc.client
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from ..model.paths import StatePaths


class CommandTransport(xmlrpc.client.Transport):
    """XML-RPC whose requests go through a command (``post``: request body in, response body out)."""

    def __init__(self, post: Callable[[str], str]) -> None:
        super().__init__()
        self.post = post

    def request(self, host: str, handler: str, request_body: bytes, verbose: bool = False) -> Any:
        parser, unmarshaller = self.getparser()
        parser.feed(self.post(request_body.decode()).encode())
        parser.close()
        return unmarshaller.close()


class Supervisor:
    """One supervisord: through its unix socket here, or through ``post`` (a host's, over SSH)."""

    def __init__(self, paths: StatePaths, post: Callable[[str], str] | None = None) -> None:
        self.paths = paths
        self.conf = paths.conf_file("supervisord.conf")
        self.post = post

    def _proxy(self) -> Any:
        if self.post is not None:
            transport: xmlrpc.client.Transport = CommandTransport(self.post)
        else:
            transport = SupervisorTransport(None, None, f"unix://{self.paths.supervisor_sock}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def running(self) -> bool:
        if self.post is None and not Path(self.paths.supervisor_sock).exists():
            return False
        try:
            return self._proxy().getState()["statename"] == "RUNNING"
        except (OSError, RuntimeError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            return False

    def processes_if_running(self) -> dict[str, dict[str, Any]]:
        """Every program's state, or {} when no supervisord answers (one request, not two)."""
        if self.post is None and not Path(self.paths.supervisor_sock).exists():
            return {}
        try:
            return self.processes()
        except (OSError, RuntimeError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            return {}

    def start_daemon(self) -> None:
        subprocess.run(
            [str(self.paths.venv / "bin" / "supervisord"), "-c", str(self.conf)],
            check=True,
        )

    def processes(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self._proxy().getAllProcessInfo()}

    def info(self, name: str) -> dict[str, Any]:
        return self._proxy().getProcessInfo(name)

    def start(self, name: str, wait: bool = True) -> None:
        try:
            self._proxy().startProcess(name, wait)
        except xmlrpc.client.Fault as exc:
            if "ALREADY_STARTED" not in exc.faultString:
                raise

    def stop(self, name: str, wait: bool = True) -> None:
        try:
            self._proxy().stopProcess(name, wait)
        except xmlrpc.client.Fault as exc:
            if "NOT_RUNNING" not in exc.faultString:
                raise

    def signal(self, name: str, sig: str) -> None:
        self._proxy().signalProcess(name, sig)

    def update(self) -> list[str]:
        """Reread the config and apply program changes; returns the names added/changed/removed."""
        proxy = self._proxy()
        [[added, changed, removed]] = proxy.reloadConfig()
        for name in removed:
            with contextlib.suppress(xmlrpc.client.Fault):
                proxy.stopProcessGroup(name)
            proxy.removeProcessGroup(name)
        for name in changed:
            with contextlib.suppress(xmlrpc.client.Fault):
                proxy.stopProcessGroup(name)
            proxy.removeProcessGroup(name)
            proxy.addProcessGroup(name)
        for name in added:
            proxy.addProcessGroup(name)
        return [*added, *changed, *removed]

    def shutdown(self) -> None:
        self._proxy().shutdown()
