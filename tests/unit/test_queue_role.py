"""The waiting room's queue role: a uWSGI node on the live release, niceness, and who follows the live release."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.model.topology import TopologyError
from deploy.roles import live_followers, loads
from deploy.roles.base import RenderContext
from deploy.roles.nodes import node_files
from tests.unit.fixtures import PATHS, SECRETS, SMALL, fake_release, small


def ini(ctx: RenderContext, name: str) -> str:
    return node_files(ctx, ctx.topo.node(name))[0].content


def test_queue_nodes_run_the_live_release_not_a_release_of_their_own() -> None:
    topo = small()
    ctx = RenderContext(
        topo, PATHS, SECRETS,
        node_releases={"web1": fake_release("v1", Path("/r")), "queue1": fake_release("v0", Path("/r"))},
        worker_release=fake_release("v2", Path("/r")),
    )  # fmt: skip
    assert "chdir = /r/v2/app\n" in ini(ctx, "queue1")
    assert "TIERS_RELEASE=v2" in ini(ctx, "queue1")
    assert "chdir = /r/v1/app\n" in ini(ctx, "web1")
    assert [n.name for n in live_followers(topo)] == ["queue1", "worker1"]


def test_uwsgi_nodes_have_no_ini_before_the_first_release() -> None:
    ctx = RenderContext(small(), PATHS, SECRETS)
    assert node_files(ctx, ctx.topo.node("queue1")) == []
    assert node_files(ctx, ctx.topo.node("web1")) == []


def test_nice_renders_uwsgi_prio_only_when_set() -> None:
    topo = loads(SMALL.replace('address = "127.9.1.11"', 'address = "127.9.1.11"\nnice = 10'), "t.toml")
    release = fake_release()
    ctx = RenderContext(topo, PATHS, SECRETS, node_releases={"web1": release}, worker_release=release)
    assert "\nprio = 10\n" in ini(ctx, "queue1")
    assert "prio" not in ini(ctx, "web1")


@pytest.mark.parametrize("value", ["25", "-1", "true", '"5"'])
def test_nice_out_of_range_is_refused_naming_the_key(value: str) -> None:
    text = SMALL.replace('address = "127.9.1.11"', f'address = "127.9.1.11"\nnice = {value}')
    with pytest.raises(TopologyError, match=r"queue\.queue1.*nice"):
        loads(text, "t.toml")
