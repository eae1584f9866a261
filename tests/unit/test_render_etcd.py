"""etcd command lines: pinned for a two-member hand-made topology."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.model.paths import StatePaths
from deploy.render.etcd import etcd_command
from deploy.roles import loads

TOPOLOGY = """
[cluster]
name = "t1"

[lb.lb]
address = "127.9.0.1"

[web.w1]
address = "127.9.1.1"

[db.pg1]
address = "127.9.2.1"
role = "primary"

[etcd.e1]
address = "127.9.2.9"

[etcd.e2]
address = "127.9.2.8"
port = 12379
peer_port = 12380

[dbproxy.proxy]
address = "127.9.2.10"

[cache.c1]
address = "127.9.3.1"

[s3.s3]
address = "127.9.4.1"

[media.media]
address = "127.9.4.2"
"""

PATHS = StatePaths(root=Path("/state"), repo=Path("/repo"))


def test_etcd_argv_exact() -> None:
    topo = loads(TOPOLOGY)
    assert etcd_command(topo, topo.node("e2"), PATHS) == [
        "/usr/bin/etcd",
        "--name=e2",
        "--data-dir=/state/data/e2",
        "--listen-client-urls=http://127.9.2.8:12379",
        "--advertise-client-urls=http://127.9.2.8:12379",
        "--listen-peer-urls=http://127.9.2.8:12380",
        "--initial-advertise-peer-urls=http://127.9.2.8:12380",
        "--initial-cluster=e1=http://127.9.2.9:2380,e2=http://127.9.2.8:12380",
        "--initial-cluster-state=new",
        "--initial-cluster-token=tiers-t1-etcd",
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=1h",
        "--logger=zap",
        "--log-outputs=stderr",
    ]


def test_members_share_cluster_flags_but_not_their_own() -> None:
    topo = loads(TOPOLOGY)
    one, two = (etcd_command(topo, topo.node(n), PATHS) for n in ("e1", "e2"))
    shared = {a for a in one if a.startswith(("--initial-cluster=", "--initial-cluster-token="))}
    assert shared == {a for a in two if a.startswith(("--initial-cluster=", "--initial-cluster-token="))}
    assert "--listen-client-urls=http://127.9.2.9:2379" in one
    assert "--data-dir=/state/data/e1" in one


def test_cluster_token_follows_cluster_name() -> None:
    topo = loads(TOPOLOGY.replace('name = "t1"', 'name = "other"'))
    assert "--initial-cluster-token=tiers-other-etcd" in etcd_command(topo, topo.node("e1"), PATHS)


def test_not_an_etcd_node() -> None:
    topo = loads(TOPOLOGY)
    with pytest.raises(ValueError, match="pg1 is a db node, not an etcd node"):
        etcd_command(topo, topo.node("pg1"), PATHS)
