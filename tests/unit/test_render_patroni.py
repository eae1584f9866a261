"""Patroni configs of the DB tier: pinned for a small hand-made topology."""

from __future__ import annotations

import base64
import hashlib
import hmac
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.model.paths import StatePaths
from deploy.model.secrets import Secrets
from deploy.model.topology import Topology, TopologyError
from deploy.render.patroni import (
    patroni_ctl_config,
    render_patroni,
    scram_verifier,
    stable_salt,
)
from deploy.roles import loads

BASE = """
[cluster]
name = "t1"

[database]
name = "shop"
user = "shopper"
max_replica_lag_bytes = 2048
patroni_ttl = 30
patroni_loop_wait = 10
patroni_retry_timeout = 9
synchronous_mode = {sync}

[lb.lb]
address = "127.9.0.1"

[web.w1]
address = "10.0.1.1"

[web.w2]
address = "127.0.0.1"

[db.pg1]
address = "10.0.2.1"
role = "primary"

[db.pg2]
address = "10.0.2.2"
port = 5433
rest_port = 8009
role = "replica"

[etcd.e1]
address = "10.0.9.1"

[etcd.e2]
address = "10.0.9.2"
port = 12379
peer_port = 12380

[dbproxy.proxy]
address = "10.0.2.10"

[cache.c1]
address = "127.9.3.1"

[s3.s3]
address = "127.9.4.1"

[media.media]
address = "127.9.4.2"

[worker.job1]
address = "10.0.5.1"
"""

PATHS = StatePaths(root=Path("/state"), repo=Path("/repo"))
SECRETS = Secrets.fixed_for_tests()


def topology(sync: str = "false", text: str = BASE) -> Topology:
    return loads(text.replace("{sync}", sync))


def rendered(node: str = "pg2", sync: str = "false") -> dict[str, Any]:
    topo = topology(sync)
    return yaml.safe_load(render_patroni(topo, topo.node(node), PATHS, SECRETS))


def test_identity_rest_and_dcs_hosts() -> None:
    conf = rendered("pg2")
    assert conf["scope"] == "t1"
    assert conf["namespace"] == "/tiers/"
    assert conf["name"] == "pg2"
    assert conf["restapi"] == {
        "listen": "10.0.2.2:8009",
        "connect_address": "10.0.2.2:8009",
        "authentication": {"username": "patroni", "password": "test-patroni_rest_password"},
        # Unsafe endpoints from the DB nodes and loopback (patronictl on a DB host) only.
        "allowlist": ["127.0.0.1/32", "10.0.2.1/32", "10.0.2.2/32"],
    }
    assert conf["etcd3"] == {
        "protocol": "http",
        "hosts": ["10.0.9.1:2379", "10.0.9.2:12379"],
        "username": "patroni",
        "password": "test-etcd_patroni_password",
    }
    assert "etcd" not in conf  # the v2 API section must not sneak back in
    assert conf["watchdog"] == {"mode": "off"}
    assert conf["tags"] == {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False}


def test_postgresql_section_uses_the_nodes_own_dirs() -> None:
    pg = rendered("pg2")["postgresql"]
    assert pg["listen"] == "10.0.2.2:5433"
    assert pg["connect_address"] == "10.0.2.2:5433"
    assert pg["data_dir"] == "/state/data/pg2/pgdata"
    assert pg["bin_dir"] == "/usr/lib/postgresql/15/bin"
    assert pg["pgpass"] == "/state/run/pg2/pgpass"
    assert pg["parameters"] == {
        "unix_socket_directories": "/state/run/pg2",
        # WAL archiving on every member (only the leader archives), through the node's own config.
        "archive_mode": "on",
        "archive_command": "/usr/bin/pgbackrest --config=/state/conf/pgbackrest-pg2.conf --stanza=t1 archive-push %p",
        "archive_timeout": 60,
        "timezone": "UTC",
        "wal_sender_timeout": "10s",
        "wal_receiver_timeout": "10s",
    }
    assert pg["use_unix_socket"] is True
    assert pg["authentication"] == {
        "superuser": {"username": "postgres", "password": "test-db_superuser_password"},
        "replication": {"username": "replicator", "password": "test-db_replication_password"},
    }


def test_pg_hba_exact() -> None:
    hba = [" ".join(line.split()) for line in rendered("pg1")["postgresql"]["pg_hba"]]
    assert hba == [
        "local all postgres peer",
        "local replication postgres peer",
        # replication and pg_rewind: 127.0.0.1 (loopback clients) first, then every DB node
        "host replication replicator 127.0.0.1/32 scram-sha-256",
        "host replication replicator 10.0.2.1/32 scram-sha-256",
        "host replication replicator 10.0.2.2/32 scram-sha-256",
        "host all postgres 127.0.0.1/32 scram-sha-256",
        "host all postgres 10.0.2.1/32 scram-sha-256",
        "host all postgres 10.0.2.2/32 scram-sha-256",
        # the app role: web w1 (w2 is 127.0.0.1, not repeated), dbproxy, worker job1
        "host shop shopper 127.0.0.1/32 scram-sha-256",
        "host shop shopper 10.0.1.1/32 scram-sha-256",
        "host shop shopper 10.0.2.10/32 scram-sha-256",
        "host shop shopper 10.0.5.1/32 scram-sha-256",
    ]


def test_bootstrap_dcs_from_topology() -> None:
    dcs = rendered("pg1")["bootstrap"]["dcs"]
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (30, 10, 9)
    assert dcs["maximum_lag_on_failover"] == 2048
    assert dcs["synchronous_mode"] is False
    assert dcs["postgresql"]["use_pg_rewind"] is True
    assert dcs["postgresql"]["use_slots"] is True
    params = dcs["postgresql"]["parameters"]
    assert params["wal_level"] == "replica"
    # Quoted in the template: a bare `on` would load as True and reach PostgreSQL as "True".
    assert params["hot_standby"] == "on"
    assert params["hot_standby_feedback"] == "on"
    assert params["wal_log_hints"] == "on"
    assert params["max_connections"] == 100
    assert params["shared_buffers"] == "64MB"
    assert rendered("pg1", sync="true")["bootstrap"]["dcs"]["synchronous_mode"] is True


def test_synchronous_replication_is_on_by_default_and_configurable() -> None:
    without = BASE.replace("synchronous_mode = {sync}\n", "")
    topo = topology(text=without)
    dcs = yaml.safe_load(render_patroni(topo, topo.node("pg1"), PATHS, SECRETS))["bootstrap"]["dcs"]
    assert (dcs["synchronous_mode"], dcs["synchronous_mode_strict"], dcs["synchronous_node_count"]) == (
        True,
        False,
        1,
    )
    strict = without.replace("[database]\n", "[database]\nsynchronous_mode_strict = true\n")
    topo = topology(text=strict)
    dcs = yaml.safe_load(render_patroni(topo, topo.node("pg1"), PATHS, SECRETS))["bootstrap"]["dcs"]
    assert dcs["synchronous_mode_strict"] is True


def test_more_synchronous_replicas_than_replicas_is_refused() -> None:
    topo = topology(
        sync="true", text=BASE.replace("[database]\n", "[database]\nsynchronous_node_count = 2\n")
    )
    with pytest.raises(TopologyError, match="synchronous_node_count: 2 but the topology has 1 replica"):
        render_patroni(topo, topo.node("pg1"), PATHS, SECRETS)


def test_initdb_and_post_bootstrap_command() -> None:
    boot = rendered("pg1")["bootstrap"]
    assert boot["initdb"] == [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"]
    argv = shlex.split(boot["post_bootstrap"])  # exactly how Patroni splits it
    verifier = (
        "SCRAM-SHA-256$4096:g9kgBmDq7e5QiSuUlMudoQ==$78l/Mx+MHt8r5BeKm1Tfq5KqO5Wij1VdHyNMNVaSc1g="
        ":pazZexV0FihMxuGk/MczmRB/nsue2xuvGPjMQsUnv7Q="
    )
    assert verifier == scram_verifier(
        "test-db_app_password", stable_salt("t1/shopper", "test-db_app_password")
    )
    assert argv == [
        "/repo/db/post_bootstrap.sh",
        "/usr/lib/postgresql/15/bin/psql",
        "shopper",
        "shop",
        verifier,
    ]
    assert "test-db_app_password" not in boot["post_bootstrap"]


def test_rendering_is_stable_and_differs_per_node() -> None:
    topo = topology()
    one = render_patroni(topo, topo.node("pg1"), PATHS, SECRETS)
    assert one == render_patroni(topo, topo.node("pg1"), PATHS, SECRETS)
    assert one != render_patroni(topo, topo.node("pg2"), PATHS, SECRETS)


def test_not_a_db_node() -> None:
    topo = topology()
    with pytest.raises(ValueError, match="e1 is a etcd node, not a db node"):
        render_patroni(topo, topo.node("e1"), PATHS, SECRETS)


def test_database_names_must_be_plain_identifiers() -> None:
    topo = topology(text=BASE.replace('name = "shop"', 'name = "my shop"'))
    with pytest.raises(TopologyError, match=r"\[database\] name: 'my shop' must be a plain lowercase SQL"):
        render_patroni(topo, topo.node("pg1"), PATHS, SECRETS)


def test_scram_verifier_matches_rfc7677_exchange() -> None:
    """RFC 7677's example (user/pencil): our keys must produce its client proof and server signature."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    verifier = scram_verifier("pencil", salt)
    head, keys = verifier.split("$", 1)[1].split("$")
    assert head == "4096:W22ZaJ0SNY7soEsUEjb6gQ=="
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth = f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={nonce}"
    server_sig = hmac.new(server_key, auth.encode(), hashlib.sha256).digest()
    assert base64.b64encode(server_sig).decode() == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    client_sig = hmac.new(stored_key, auth.encode(), hashlib.sha256).digest()
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_key = bytes(a ^ b for a, b in zip(proof, client_sig, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key


def test_stable_salt_depends_on_seed_and_password() -> None:
    assert len(stable_salt("t1/shopper", "pw")) == 16
    assert stable_salt("t1/shopper", "pw") == stable_salt("t1/shopper", "pw")
    assert stable_salt("t1/shopper", "pw") != stable_salt("t2/shopper", "pw")
    assert stable_salt("t1/shopper", "pw") != stable_salt("t1/shopper", "pw2")


def test_patronictl_config_exact() -> None:
    assert patroni_ctl_config(topology(), PATHS, SECRETS) == (
        "# patronictl for cluster t1: rendered by deploy/render/patroni.py.\n"
        "scope: t1\n"
        "namespace: /tiers/\n"
        "ctl:\n"
        "  authentication:\n"
        "    username: patroni\n"
        '    password: "test-patroni_rest_password"\n'
        "etcd3:\n"
        "  protocol: http\n"
        "  username: patroni\n"
        '  password: "test-etcd_patroni_password"\n'
        "  hosts:\n"
        "    - 10.0.9.1:2379\n"
        "    - 10.0.9.2:12379\n"
    )
