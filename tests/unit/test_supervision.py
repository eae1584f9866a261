"""Reload policy, readiness, status rows and shutdown order read from the role declarations."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.clients.probes import LocalProber
from deploy.commands import supervision
from deploy.commands.context import Cluster
from deploy.commands.lifecycle import shutdown_order
from deploy.commands.status import rows_for
from deploy.roles.base import StatusView
from tests.unit.fixtures import PATHS, small


class RecordingSupervisor:
    def __init__(self, state: str = "RUNNING") -> None:
        self.calls: list[tuple[str, ...]] = []
        self.state = state

    def info(self, name: str) -> dict[str, str]:
        return {"statename": self.state}

    def stop(self, name: str, wait: bool = True) -> None:
        self.calls.append(("stop", name))

    def start(self, name: str, wait: bool = True) -> None:
        self.calls.append(("start", name))

    def signal(self, name: str, sig: str) -> None:
        self.calls.append(("signal", name, sig))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("db1", [("signal", "db1", "HUP")]),
        ("media", [("signal", "media", "HUP")]),
        ("web1", [("stop", "web1"), ("start", "web1")]),
        ("cache1", [("stop", "cache1"), ("start", "cache1")]),
        ("dbproxy", [("stop", "dbproxy"), ("start", "dbproxy")]),
    ],
)
def test_apply_change_reloads_or_restarts_as_the_role_says(name: str, expected: list) -> None:
    sup = RecordingSupervisor()
    supervision.apply_change(sup, PATHS, small().node(name))  # type: ignore[arg-type]
    assert sup.calls == expected


def test_a_changed_config_starts_a_node_that_is_not_running() -> None:
    sup = RecordingSupervisor(state="FATAL")
    assert supervision.apply_change(sup, PATHS, small().node("lb")) == "start"  # type: ignore[arg-type]
    assert sup.calls == [("start", "lb")]


def test_lb_saves_server_states_before_its_reload(tmp_path: Path) -> None:
    from deploy.model.paths import StatePaths

    paths = StatePaths(root=tmp_path)
    paths.run.mkdir()
    sup = RecordingSupervisor()
    # No HAProxy answers on the socket: the reload still happens (states are best effort).
    assert supervision.apply_change(sup, paths, small().node("lb")) == "USR2"  # type: ignore[arg-type]
    assert sup.calls == [("signal", "lb", "USR2")]


def test_status_asks_every_running_nodes_role() -> None:
    topo = small()
    procs = {n.name: {"statename": "RUNNING"} for n in topo}
    procs["web2"] = {"statename": "STOPPED"}
    rows = {r.node: r for r in rows_for(topo, procs, lambda node: StatusView(LocalProber()))}
    assert set(rows) == {n.name for n in topo}
    # Nothing listens on 127.9.x.y: every running node's role probed it and found it down.
    assert rows["cache1"].health == "down" and rows["dbproxy"].health == "down"
    assert rows["db1"].detail == "Patroni REST not answering"
    assert rows["worker1"].health == "ok"  # no port: its process state is its health
    assert rows["web2"].process == "stopped" and rows["web2"].health == "-"
    assert all(r.health != "-" for name, r in rows.items() if name != "web2")


def test_shutdown_order_front_first_leader_last() -> None:
    cluster = Cluster(small(), PATHS)
    names = [n.name for n in small()]
    assert shutdown_order(cluster, names, leader="db1") == [
        "lb", "media", "worker1", "web1", "web2", "queue1", "pgbouncer", "dbproxy", "cache1", "db2", "db1", "s3",
        "etcd",
    ]  # fmt: skip


def test_a_stray_that_ignores_the_clean_signal_gets_the_firmer_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real process that ignores SIGINT (as a postmaster waiting on its WAL archiver does): SIGQUIT next."""
    import signal
    import subprocess
    from types import SimpleNamespace

    def ignoring_sigint() -> subprocess.Popen:
        """A shell that ignores SIGINT, returned once its trap is set (it says so): under load a fixed sleep
        could signal it before it ran at all."""
        # SIGQUIT as the default: a background job of a shell without job control starts with it ignored,
        # and a shell cannot trap (or un-ignore) a signal ignored at its start.
        p = subprocess.Popen(["sh", "-c", "trap '' INT; echo ready; while :; do sleep 0.05; done"],
                             stdout=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGQUIT, signal.SIG_DFL))  # fmt: skip
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
        return p

    stray = ignoring_sigint()
    role = SimpleNamespace(strays=lambda paths, node: [stray.pid], stray_stop_signals=("INT", "QUIT"))
    monkeypatch.setattr(supervision, "role_of", lambda node: role)
    try:
        supervision.stop_strays([small().node("db1")], PATHS, timeout_s=2)  # type: ignore[arg-type]
        assert stray.wait(timeout=5) == -3  # SIGQUIT ended it
        role.stray_stop_signals = ("INT",)
        survivor = ignoring_sigint()
        role.strays = lambda paths, node: [survivor.pid]
        with pytest.raises(supervision.SupervisionError, match="outlived SIGINT"):
            supervision.stop_strays([small().node("db1")], PATHS, timeout_s=0.5)  # type: ignore[arg-type]
        survivor.kill()
        survivor.wait(timeout=5)
    finally:
        stray.kill()
        stray.wait(timeout=5)
