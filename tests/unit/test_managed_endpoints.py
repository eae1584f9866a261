"""Topologies naming managed services (RDS, ElastiCache, S3): what the model accepts, what the renderers
make of them, and what the commands refuse. The AWS topology is tests/unit/golden/aws-rds.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.cli import main
from deploy.commands.node_install import check_secrets, node_install
from deploy.commands.release_setup import app_role_on_managed_argv
from deploy.commands.state import ClusterError
from deploy.model.paths import StatePaths
from deploy.model.secrets import Secrets
from deploy.model.topology import TopologyError
from deploy.render.django_env import web_environment
from deploy.render.nginx import render_media
from deploy.render.patroni import render_patroni
from deploy.roles import loads
from deploy.roles.base import RenderContext
from deploy.roles.nodes import programs, render_all
from tests.unit.fixtures import SECRETS

GOLDEN = Path(__file__).parent / "golden" / "aws-rds.toml"
AWS = GOLDEN.read_text()
PATHS = StatePaths(root=Path("/state"))


def test_rds_topology_needs_no_etcd_and_lets_dbproxy_be_the_writer() -> None:
    topo = loads(AWS)
    assert topo.by_role("etcd") == ()
    assert topo.one("dbproxy").endpoint == topo.node("db1").endpoint  # no listener clash: both managed


def test_etcd_is_still_required_when_a_db_node_runs_on_our_hosts() -> None:
    own_db = AWS.replace(
        'address = "tiers-demo-db1.abc.eu-west-1.rds.amazonaws.com"\nrole = "primary"\nmanaged = true',
        'address = "10.40.128.20"\nrole = "primary"',
    )
    with pytest.raises(TopologyError, match=r"\[etcd\] needs at least 1 node"):
        loads(own_db)


def test_a_role_that_cannot_be_managed_refuses_the_key() -> None:
    with pytest.raises(TopologyError, match="unknown key 'managed'"):
        loads(
            AWS.replace(
                '[web.web1]\naddress = "10.40.128.10"', '[web.web1]\naddress = "10.40.128.10"\nmanaged = true'
            )
        )


@pytest.mark.parametrize("bad", ["10.40.128.0/33", "shop.example.com", "10.40.128.1/20"])
def test_client_networks_must_be_networks(bad: str) -> None:
    with pytest.raises(TopologyError, match="client_networks"):
        loads(AWS.replace('"10.40.144.0/20"]', f'"{bad}"]'))


def test_web_environment_names_the_managed_endpoints_and_public_names() -> None:
    topo = loads(AWS)
    env = web_environment(topo, topo.node("web1"), PATHS, SECRETS)
    assert env["DB_PRIMARY_HOST"] == "tiers-demo-db1.abc.eu-west-1.rds.amazonaws.com"
    assert env["DB_READ_NODES"] == (
        "db1=tiers-demo-db1.abc.eu-west-1.rds.amazonaws.com:5432,db2=tiers-demo-db2.abc.eu-west-1.rds.amazonaws.com:5432"
    )
    assert env["CACHE_NODES"] == "tiers-demo-cache.abc.0001.euw1.cache.amazonaws.com:11211"
    assert "shop.example.com" in env["DJANGO_ALLOWED_HOSTS"].split(",")
    assert env["MEDIA_URL"] == "https://media.example.com/media/"
    assert env["S3_ENDPOINT_URL"] == "https://s3.eu-west-1.amazonaws.com"


def test_the_app_settings_accept_host_names_for_the_router_and_readyz() -> None:
    from tiers_site.config import parse_endpoint, parse_read_nodes

    topo = loads(AWS)
    env = web_environment(topo, topo.node("web1"), PATHS, SECRETS)
    assert [r[0] for r in parse_read_nodes(env["DB_READ_NODES"])] == ["db1", "db2"]
    assert parse_endpoint("CACHE_NODES", env["CACHE_NODES"]) == (
        "tiers-demo-cache.abc.0001.euw1.cache.amazonaws.com",
        11211,
    )


def test_media_proxies_to_a_managed_s3_over_https_with_sni_and_the_signed_host() -> None:
    config = render_media(loads(AWS), PATHS)
    assert "resolver 169.254.169.253 valid=60s ipv6=off;" in config
    assert "proxy_set_header Host s3.eu-west-1.amazonaws.com;" in config  # no :443: what boto3 signed
    assert "proxy_ssl_name s3.eu-west-1.amazonaws.com;" in config and "proxy_ssl_verify on;" in config
    assert "rewrite ^/private/x-private/(.*)$ /x-private/$1 break;" in config
    assert "proxy_pass http://" not in config


def test_media_without_a_resolver_for_a_managed_s3_is_refused() -> None:
    topo = loads(AWS.replace('resolver = "169.254.169.253"\n', ""))
    with pytest.raises(TopologyError, match=r'set resolver \(on AWS "169.254.169.253"\)'):
        render_media(topo, PATHS)


def test_pg_hba_admits_the_client_networks() -> None:
    own = {"db1": "10.40.128.20", "db2": "10.40.144.21", "dbproxy": "10.40.128.40"}
    patroni = AWS
    for name, address in own.items():  # the database tier on our own hosts, S3 and the cache still managed
        head = f"[{'dbproxy' if name == 'dbproxy' else 'db'}.{name}]\n"
        block = patroni[patroni.index(head) :].split("\n\n")[0]
        mine = "\n".join(
            f'address = "{address}"' if line.startswith("address") else line
            for line in block.splitlines()
            if line != "managed = true"
        )
        patroni = patroni.replace(block, mine)
    patroni = patroni.replace("[cache.cache1]", '[etcd.etcd1]\naddress = "10.40.128.30"\n\n[cache.cache1]')
    topo = loads(patroni)
    config = render_patroni(topo, topo.node("db1"), PATHS, SECRETS)
    assert "- hostssl tiers  tiers  10.40.128.0/20     scram-sha-256" in config
    assert "10.40.128.10/32" not in config  # web1 is admitted by its subnet, not by name
    assert "- hostssl replication  replicator  10.40.144.21/32" in config


def test_only_self_run_nodes_get_programs_and_files() -> None:
    ctx = RenderContext(loads(AWS), PATHS, SECRETS)
    assert [p.name for p in programs(ctx)] == ["lb", "web1", "media", "worker1"]
    assert all("patroni" not in str(cf.path) for cf in render_all(ctx))


def test_node_install_refuses_a_managed_node(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="db1 is a managed service's endpoint"):
        node_install(loads(AWS), "db1", tmp_path, tmp_path, enable=False)


def test_local_commands_refuse_a_cloud_topology(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-t", str(GOLDEN), "status"]) == 1
    assert "names managed service endpoints (db1, db2, dbproxy, cache1, s3)" in capsys.readouterr().err


@pytest.mark.parametrize("magic", ["%n", "$(HOME)", "@(/etc/passwd)"])
def test_secrets_uwsgi_would_expand_are_refused(magic: str) -> None:
    with pytest.raises(ClusterError, match="uWSGI expands"):
        check_secrets(Secrets(**{**SECRETS.__dict__, "django_secret_key": f"abc{magic}def"}))


def test_app_role_on_rds_is_created_with_the_verifier_by_the_master_user() -> None:
    argv = app_role_on_managed_argv(loads(AWS), "tiers_admin", Path("/src"), "SCRAM-SHA-256$4096:x")
    assert argv[argv.index("-h") + 1] == "tiers-demo-db1.abc.eu-west-1.rds.amazonaws.com"
    assert argv[argv.index("-U") + 1] == "tiers_admin" and "verifier=SCRAM-SHA-256$4096:x" in argv
    assert argv[-1] == "/src/db/app_role.sql"
