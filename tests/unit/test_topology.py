"""The topology loader: a valid file loads; every kind of mistake names the key and the fix."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.model.paths import REPO
from deploy.model.topology import TopologyError
from deploy.roles import load, loads
from deploy.roles.db import primary, replicas

LOCAL = REPO / "deploy" / "topologies" / "local.toml"
TEST = REPO / "deploy" / "topologies" / "test.toml"

MINIMAL = """
[cluster]
name = "mini"
[lb.lb]
address = "127.9.0.1"
[web.web1]
address = "127.9.1.1"
[db.db1]
address = "127.9.2.1"
role = "primary"
[db.db2]
address = "127.9.2.2"
role = "replica"
replica_of = "db1"
[etcd.etcd]
address = "127.9.2.9"
[dbproxy.dbproxy]
address = "127.9.2.10"
[cache.cache1]
address = "127.9.3.1"
[s3.s3]
address = "127.9.4.1"
[media.media]
address = "127.9.4.2"
"""


def test_local_topology_matches_the_address_plan() -> None:
    topo = load(LOCAL)
    assert topo.cluster.name == "local"
    assert topo.one("lb").endpoint == "127.0.0.1:8080"
    assert topo.one("lb").opt("stats_port") == 8404
    assert [n.endpoint for n in topo.by_role("web")] == ["127.0.1.1:8000", "127.0.1.2:8000"]
    assert primary(topo).name == "db1"
    assert [n.endpoint for n in topo.by_role("db")] == ["127.0.2.1:5432", "127.0.2.2:5432", "127.0.2.3:5432"]
    assert {n.opt("rest_port") for n in topo.by_role("db")} == {8008}
    assert [n.name for n in replicas(topo)] == ["db2", "db3"]
    assert topo.by_role("etcd")[0].endpoint == "127.0.2.9:2379"
    assert topo.one("dbproxy").endpoint == "127.0.2.10:5432"
    assert [n.endpoint for n in topo.by_role("cache")] == ["127.0.3.1:11211", "127.0.3.2:11211"]
    assert topo.one("s3").endpoint == "127.0.4.1:8333"
    assert topo.one("media").endpoint == "127.0.4.2:8080"


def test_test_topology_shares_no_listener_with_local() -> None:
    local, test = load(LOCAL), load(TEST)
    assert test.cluster.name != local.cluster.name
    assert not {n.address for n in local} & {n.address for n in test}

    # SeaweedFS also binds its ports (and +10000) on 127.0.0.1, whatever its address.
    def weed_ports(t):
        s3 = t.one("s3")
        ports = {s3.port, s3.opt("master_port"), s3.opt("volume_port"), s3.opt("filer_port")}
        return ports | {p + 10000 for p in ports}

    assert not weed_ports(local) & weed_ports(test)


def test_defaults_are_filled_in() -> None:
    topo = loads(MINIMAL)
    web = topo.by_role("web")[0]
    assert web.port == 8000
    assert web.opt("processes") == 1
    assert topo.database.name == "tiers"
    assert topo.storage.addressing_style == "path"
    assert topo.by_role("worker") == ()


def _broken(old: str, new: str) -> str:
    assert old in MINIMAL
    return MINIMAL.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_broken("[lb.lb]", "[lb.lb]\ncolour = 'red'"), "[lb.lb]: unknown key 'colour'"),
        (
            _broken('address = "127.9.1.1"', 'address = "web-one"'),
            "[web.web1] address: 'web-one' is not an IP",
        ),
        (_broken('address = "127.9.1.1"', 'address = "0.0.0.0"'), "binds every interface"),
        (
            _broken('address = "127.9.3.1"', 'address = "127.9.2.1"\nport = 5432'),
            "[cache.cache1] port: 127.9.2.1:5432 is already used by [db.db1]",
        ),
        (_broken('role = "primary"', 'role = "replica"'), "[db] no primary"),
        (
            _broken('replica_of = "db1"', 'replica_of = "db9"'),
            "[db.db2] replica_of: 'db9' is not the primary",
        ),
        (_broken('[web.web1]\naddress = "127.9.1.1"', ""), "[web] needs at least 1 node(s), found 0"),
        (
            _broken('[web.web1]\naddress = "127.9.1.1"', '[web.web1]\naddress = "127.9.1.1"\nport = 70000'),
            "[web.web1] port: must be a port number 1-65535, got 70000",
        ),
        (
            _broken('[web.web1]\naddress = "127.9.1.1"', '[web.web1]\naddress = "127.9.1.1"\nprocesses = 0'),
            "[web.web1] processes: must be a whole number >= 1",
        ),
        (_broken("[web.web1]", "[web.db1]"), "node name 'db1' is already used by [web.db1]"),
        (
            _broken('[cluster]\nname = "mini"', '[cluster]\nname = "mini"\nprofile = "staging"'),
            "profile: 'staging' is not one of local, production",
        ),
        (
            _broken("[lb.lb]", "[loadbalancer.lb2]\naddress = '127.9.0.2'\n[lb.lb]"),
            "unknown section [loadbalancer]",
        ),
        (_broken('[db.db2]\naddress = "127.9.2.2"', "[db.db2]"), "[db.db2]: missing required key 'address'"),
        (_broken("[web.web1]", '[lb.lb2]\naddress = "127.9.0.2"\n[web.web1]'), "[lb] allows at most 1"),
        ("[cluster\nname=1", "not valid TOML"),
        (
            _broken(
                '[cluster]\nname = "mini"', '[cluster]\nname = "mini"\n[database]\npatroni_loop_wait = 50'
            ),
            "patroni_loop_wait (50) + 2 x patroni_retry_timeout (5) = 60 must be <= patroni_ttl (20)",
        ),
        (
            _broken('[cluster]\nname = "mini"', '[cluster]\nname = "mini"\n[database]\npatroni_ttl = 10'),
            "patroni_ttl = 10: Patroni 4 takes at least 20",
        ),
    ],
)
def test_mistakes_name_the_key(text: str, expected: str) -> None:
    with pytest.raises(TopologyError) as err:
        loads(text, "bad.toml")
    assert expected in str(err.value)
    assert str(err.value).startswith("bad.toml")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="no such topology file"):
        load(tmp_path / "nope.toml")


def test_cli_exits_nonzero_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(_broken('replica_of = "db1"', 'replica_of = "ghost"'))
    out = subprocess.run(
        [sys.executable, "-m", "deploy", "--topology", str(bad), "check"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2
    assert "replica_of: 'ghost' is not the primary" in out.stderr
    assert str(bad) in out.stderr


def test_public_names_reach_the_django_environment() -> None:
    from deploy.render.django_env import web_environment
    from tests.unit.fixtures import PATHS, SECRETS

    topo = loads(
        MINIMAL.replace(
            '[lb.lb]\naddress = "127.9.0.1"',
            '[lb.lb]\naddress = "127.9.0.1"\npublic_host = "shop.example.com"',
        ).replace(
            '[media.media]\naddress = "127.9.4.2"',
            '[media.media]\naddress = "127.9.4.2"\npublic_url = "https://media.example.com/"',
        )
    )
    env = web_environment(topo, topo.by_role("web")[0], PATHS, SECRETS)
    assert env["DJANGO_ALLOWED_HOSTS"] == "127.9.0.1,127.9.1.1,localhost,shop.example.com"
    assert env["MEDIA_URL"] == "https://media.example.com/media/"
    assert env["STATIC_URL"] == "https://media.example.com/static/"
    assert env["PRIVATE_MEDIA_URL"] == "https://media.example.com/private/"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            '[lb.lb]\naddress = "127.9.0.1"',
            '[lb.lb]\naddress = "127.9.0.1"\npublic_host = "https://shop.example.com"',
            "[lb.lb] public_host: 'https://shop.example.com' is not a host name",
        ),
        (
            '[media.media]\naddress = "127.9.4.2"',
            '[media.media]\naddress = "127.9.4.2"\npublic_url = "media.example.com"',
            "[media.media] public_url: 'media.example.com' must be a scheme and host only",
        ),
    ],
)
def test_bad_public_names_are_named(old: str, new: str, expected: str) -> None:
    with pytest.raises(TopologyError, match=re.escape(expected)):
        loads(_broken(old, new), "bad.toml")
