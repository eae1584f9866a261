"""The scale overlay: names and addresses of added web nodes, limits, and the stored count."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.commands.scale import load_overlay, save_overlay, scaled
from deploy.model.topology import TopologyError
from deploy.render.haproxy import DEFAULT_SERVER, dynamic_server_args, panic_server_args, render_lb
from tests.unit.fixtures import PATHS, SECRETS, small


def test_added_nodes_follow_the_last_web_node() -> None:
    topo = scaled(small(), 4)
    web = topo.by_role("web")
    assert [(n.name, n.endpoint) for n in web] == [
        ("web1", "127.9.1.1:8000"), ("web2", "127.9.1.2:8000"),
        ("web3", "127.9.1.3:8000"), ("web4", "127.9.1.4:8000"),
    ]  # fmt: skip
    assert web[2].options == web[1].options  # processes = 2, threads = 2 copied from web2
    # Inserted right after the file's web nodes: roles stay grouped, nothing else moves.
    assert [n.name for n in topo.nodes if n.role != "web"] == [
        n.name for n in small().nodes if n.role != "web"
    ]
    base = small()
    assert scaled(base, None) is base and scaled(base, 2) is base


def test_cannot_go_below_the_file() -> None:
    with pytest.raises(TopologyError, match="cannot go below"):
        scaled(small(), 1)


def test_overlay_round_trip(tmp_path: Path) -> None:
    assert load_overlay(tmp_path) is None
    save_overlay(tmp_path, 3)
    assert load_overlay(tmp_path) == 3
    save_overlay(tmp_path, None)
    assert load_overlay(tmp_path) is None


def test_runtime_server_matches_the_rendered_one() -> None:
    topo = scaled(small(), 3)
    cfg = render_lb(topo, PATHS, SECRETS)
    assert f"    default-server {DEFAULT_SERVER}\n" in cfg
    assert "    server web3 127.9.1.3:8000 port 8001 maxconn 5 weight 100\n" in cfg
    assert (
        dynamic_server_args(topo.by_role("web")[2], 1)
        == f"127.9.1.3:8000 {DEFAULT_SERVER} port 8001 maxconn 5 weight 100"
    )
    # The panic backend's twin: the same node and limits, never checked.
    assert "    server web3 127.9.1.3:8000 maxconn 5 weight 100\n" in cfg.split("backend web_panic\n")[1]
    assert panic_server_args(topo.by_role("web")[2], 1) == "127.9.1.3:8000 maxconn 5 weight 100"
