"""Process supervision of a cluster's nodes: reload or restart on config changes, readiness, crashes.

Everything a role does differently is read from its declaration (reload signal, readiness probe,
stray processes); this module never branches on a role's name.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable

from ..clients import probes
from ..clients.probes import Prober
from ..clients.procs import alive
from ..clients.supervisor import Supervisor
from ..model.paths import StatePaths
from ..model.topology import Node, Topology
from ..model.units import RESTART
from ..roles import role_of
from .state import Place

STOPPED_STATES = ("STOPPED", "EXITED", "FATAL")


class SupervisionError(RuntimeError):
    """A node cannot be acted on as asked (e.g. killing a node that is not running)."""


def apply_change(sup: Supervisor, paths: StatePaths, node: Node) -> str:
    """A node's config file changed but its command did not: reload it as its role says (or restart).

    Returns what was done ("HUP", "USR2", ... or "restart").
    """
    role = role_of(node)
    if role.reload == RESTART:
        sup.stop(node.name)
        sup.start(node.name)
        return RESTART
    if sup.info(node.name).get("statename") in STOPPED_STATES:
        # Nothing to signal (e.g. it died on the previous, broken config): start it on the new one.
        sup.start(node.name)
        return "start"
    if role.before_reload is not None:
        role.before_reload(paths)
    sup.signal(node.name, role.reload)
    return role.reload


def start_or_apply(sup: Supervisor, paths: StatePaths, topo: Topology, changed: set[str]) -> None:
    """Start supervisord with the config just written, or have the running one take it: added, removed and
    re-commanded programs through `update`; a program whose config file alone changed reloads or restarts
    the way its role says (:func:`apply_change`)."""
    if not sup.running():
        sup.start_daemon()
        probes.wait_for(sup.running, "supervisord", 15)
        return
    updated = set(sup.update())
    for name in sorted(changed - updated):
        apply_change(sup, paths, topo.node(name))


def is_ready(sup: Supervisor, probe: Prober, node: Node) -> bool:
    """The role's readiness probe; for roles without one, running past startsecs."""
    role = role_of(node)
    if role.ready is not None:
        return role.ready(node, probe)
    state = sup.info(node.name).get("statename")
    if state in STOPPED_STATES:  # e.g. a worker started before `migrate` made its table
        sup.start(node.name, wait=False)
    return state == "RUNNING"


def wait_ready(place: Place, nodes: Iterable[Node]) -> None:
    for node in nodes:
        what = f"{node.name} ({node.role}) to be ready"
        sup, probe = place.supervisor(node), place.prober(node)
        probes.wait_for(lambda n=node, s=sup, p=probe: is_ready(s, p, n), what, role_of(node).ready_timeout_s)


def kill(sup: Supervisor, paths: StatePaths, node: Node) -> None:
    """Crash a node: SIGKILL its processes (and its role's strays) and keep it down until `start`.

    supervisord restarts a process that dies on its own, and a crash test wants the node to stay
    dead. So the processes are frozen (SIGSTOP) first, supervisord is told to stop the program (its
    SIGTERM waits, undelivered, on the frozen processes: nothing shuts down gracefully), then
    everything is SIGKILLed; supervisord records the program as STOPPED, not crashed.
    """
    pid = sup.info(node.name).get("pid") or 0
    if not pid:
        raise SupervisionError(f"{node.name} is not running: nothing to kill")
    group = os.getpgid(pid) if alive(pid) else 0
    extra = role_of(node).strays(paths, node)

    def signal_all(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group == pid:
                os.killpg(group, sig)  # the program and every child it started
            else:
                os.kill(pid, sig)
        for other in extra:
            with contextlib.suppress(ProcessLookupError):
                os.kill(other, sig)

    signal_all(signal.SIGSTOP)
    sup.stop(node.name, wait=False)
    signal_all(signal.SIGKILL)
    probes.wait_for(
        lambda: sup.info(node.name)["statename"] in STOPPED_STATES,
        f"supervisord to record {node.name} as stopped",
        15,
    )


def stop_strays(topo: Topology, paths: StatePaths, timeout_s: float = 30) -> None:
    """Stop what killed programs left running (a killed Patroni's postmaster): the role's clean signal
    first, its firmer ones after ``timeout_s`` each."""
    for node in topo:
        role = role_of(node)
        for pid in role.strays(paths, node):
            for name in role.stray_stop_signals:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, getattr(signal, f"SIG{name}"))
                with contextlib.suppress(probes.WaitTimeout):
                    probes.wait_for(lambda p=pid: not alive(p), f"{node.name}'s process {pid}", timeout_s)
                    break
            else:
                raise SupervisionError(
                    f"{node.name}'s process {pid} outlived SIG{', SIG'.join(role.stray_stop_signals)} "
                    f"({timeout_s:g} s each): look at it (`ps -o pid,stat,args -p {pid}`) and stop it by hand"
                )
