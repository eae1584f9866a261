"""HAProxy runtime API: exact command strings, the `show stat` parser, and the one drain sequence."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.clients import haproxy
from deploy.clients.haproxy import RuntimeAPI, ServerStat, parse_stat
from deploy.clients.probes import WaitTimeout
from deploy.commands import scale

HEADER = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,weight\n"


def stat(*servers: tuple[str, str, int, int], backend: str = "web") -> str:
    rows = ["web,FRONTEND,,,0,5,4096,10,OPEN,", "stats,FRONTEND,,,1,1,100,3,OPEN,"]
    rows += [f"{backend},{name},{q},0,{cur},4,1,100,{status},100" for name, status, cur, q in servers]
    rows.append("web,BACKEND,0,0,0,5,410,10,UP,200")
    return HEADER + "\n".join(rows) + "\n\n"


class Scripted:
    """Stands in for the admin socket: records commands, answers `show stat` from a script."""

    def __init__(self, stats: list[str]) -> None:
        self.sent: list[str] = []
        self.stats = stats

    def __call__(self, cmd: str) -> str:
        self.sent.append(cmd)
        if cmd == "show stat":
            return self.stats.pop(0) if len(self.stats) > 1 else self.stats[0]
        if cmd.startswith("add server"):
            return "New server registered."
        if cmd.startswith("del server"):
            return "Server deleted."
        return "\n"


def api(script: Scripted) -> RuntimeAPI:
    return RuntimeAPI(Path("/nonexistent"), send=script)


def test_builders_exact() -> None:
    assert haproxy.set_state("web", "web1", "drain") == "set server web/web1 state drain"
    assert (
        haproxy.add_server("web", "web3", "127.0.1.3:8000 check")
        == "add server web/web3 127.0.1.3:8000 check"
    )
    assert haproxy.enable_health("web", "web3") == "enable health web/web3"
    assert haproxy.del_server("web", "web3") == "del server web/web3"
    with pytest.raises(ValueError, match="not one of"):
        haproxy.set_state("web", "web1", "up")


def test_parse_stat_skips_summary_rows() -> None:
    parsed = parse_stat(stat(("web1", "UP", 2, 1), ("web2", "MAINT", 0, 0)))
    assert parsed == {
        "web": {
            "web1": ServerStat("web", "web1", "UP", 2, 1),
            "web2": ServerStat("web", "web2", "MAINT", 0, 0),
        }
    }
    assert parsed["web"]["web1"].summary == "UP cur 2 q 1"


def test_drain_waits_for_in_flight_requests_then_maint() -> None:
    script = Scripted([stat(("web1", "DRAIN", 3, 0)), stat(("web1", "DRAIN", 0, 0))])
    haproxy.drain(api(script), "web", "web1", timeout_s=5)
    assert script.sent == [
        "set server web/web1 state drain",
        "show stat",
        "show stat",
        "set server web/web1 state maint",
    ]


def test_drain_that_never_empties_times_out_and_leaves_drain() -> None:
    script = Scripted([stat(("web1", "DRAIN", 1, 0))])
    with pytest.raises(WaitTimeout, match="in-flight"):
        haproxy.drain(api(script), "web", "web1", timeout_s=0.3)
    assert "set server web/web1 state maint" not in script.sent


def test_put_back_is_ready_then_up() -> None:
    script = Scripted([stat(("web1", "MAINT", 0, 0)), stat(("web1", "UP", 0, 0))])
    haproxy.put_back(api(script), "web", "web1", timeout_s=5)
    assert script.sent == ["set server web/web1 state ready", "show stat", "show stat"]


def test_refused_command_raises_with_the_answer() -> None:
    answers = RuntimeAPI(Path("/nonexistent"), send=lambda cmd: "No such server.\n")
    with pytest.raises(haproxy.HAProxyError, match="No such server"):
        answers.set_state("web", "web9", "ready")


def test_scale_removal_drains_to_maint_before_deleting() -> None:
    from tests.unit.fixtures import small

    node = small().by_role("web")[1]
    script = Scripted([stat(("web2", "UP", 1, 0)), stat(("web2", "DRAIN", 0, 0))])
    scale.remove(api(script), node, drain_timeout_s=5)
    commands = [c for c in script.sent if c != "show stat"]
    assert commands == [
        "set server web/web2 state drain",
        "set server web/web2 state maint",
        "del server web/web2",
    ]


def test_scale_addition_starts_in_maint_then_ready() -> None:
    from tests.unit.fixtures import small

    node = small().by_role("web")[1]
    script = Scripted([stat(), stat(("web2", "MAINT", 0, 0)), stat(("web2", "UP", 0, 0))])
    scale.add(api(script), node, 1)
    commands = [c for c in script.sent if c != "show stat"]
    assert commands[0].startswith("add server web/web2 127.9.1.2:8000 ")
    assert commands[1:] == [
        "enable health web/web2",
        "set server web/web2 state ready",
        # Its unchecked twin in the panic backend, once the node is UP.
        "add server web_panic/web2 127.9.1.2:8000 maxconn 5 weight 100",
        "set server web_panic/web2 state ready",
    ]


def test_scale_removal_takes_the_panic_twin_out_first() -> None:
    from tests.unit.fixtures import small

    node = small().by_role("web")[1]
    both = stat(("web2", "UP", 0, 0)) + stat(("web2", "UP", 0, 0), backend="web_panic").split("\n", 1)[1]
    script = Scripted([both, stat(("web2", "UP", 0, 0)), stat(("web2", "DRAIN", 0, 0))])
    scale.remove(api(script), node, drain_timeout_s=5)
    commands = [c for c in script.sent if c != "show stat"]
    assert commands == [
        "set server web_panic/web2 state maint",
        "del server web_panic/web2",
        "set server web/web2 state drain",
        "set server web/web2 state maint",
        "del server web/web2",
    ]
