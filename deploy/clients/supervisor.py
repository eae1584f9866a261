"""Talk to one cluster's supervisord over its unix socket (XML-RPC)."""

from __future__ import annotations

import contextlib
import subprocess
import xmlrpc.client
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from ..model.paths import StatePaths


class Supervisor:
    def __init__(self, paths: StatePaths) -> None:
        self.paths = paths
        self.conf = paths.conf_file("supervisord.conf")

    def _proxy(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.paths.supervisor_sock}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def running(self) -> bool:
        if not Path(self.paths.supervisor_sock).exists():
            return False
        try:
            return self._proxy().getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

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
