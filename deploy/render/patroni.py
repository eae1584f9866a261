"""Patroni configs of the DB tier: one YAML per DB node, plus a small patronictl config.

Each DB node runs ``<repo>/.venv/bin/patroni <conf>/patroni-<node>.yml`` as the OS user
``postgres``; Patroni runs PostgreSQL 15 and holds the leader lock in etcd (v3 API).
The app role and database are created once, right after the first initdb, by
``db/post_bootstrap.sh`` (Patroni 4 has no ``bootstrap.users``). The role's password
reaches that script as a SCRAM-SHA-256 verifier computed here, never as clear text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shlex
import unicodedata

from ..model.defaults import PG_BIN_DIR
from ..model.paths import StatePaths
from ..model.secrets import Secrets
from ..model.tls import internal_cert_file, internal_tls
from ..model.topology import Node, Topology, TopologyError
from .etcd import NAMESPACE, PATRONI_ETCD_USER
from .pgbackrest import archive_command
from .templates import render

# Basic-auth user of Patroni's REST API (unsafe endpoints); its password is patroni_rest_password.
REST_USER = "patroni"
SCRAM_ITERATIONS = 4096  # PostgreSQL's own default (scram_iterations)
# 2 cores: ~20 busy backends already saturate them; 100 slots cover persistent connections of
# every uWSGI worker (primary via dbproxy + one replica each), Patroni, replication and admins.
MAX_CONNECTIONS = 100
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def data_dir(paths: StatePaths, node: Node) -> str:
    """PostgreSQL's data directory of ``node`` (Patroni creates it, mode 0700)."""
    return str(paths.data(node.name) / "pgdata")


def pgpass_file(paths: StatePaths, node: Node) -> str:
    """Where Patroni writes the passfile it uses for replication and pg_rewind."""
    return str(paths.socket_dir(node.name) / "pgpass")


def scram_verifier(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677).

    PostgreSQL keeps a password given in this form as is (CREATE ROLE ... PASSWORD '<verifier>').
    """
    secret = unicodedata.normalize("NFKC", password).encode()  # SASLprep, for the passwords we generate
    salted = hashlib.pbkdf2_hmac("sha256", secret, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def stable_salt(seed: str, password: str) -> bytes:
    """A 16-byte salt derived from ``seed`` and the password: re-rendering does not change the file."""
    return hashlib.sha256(f"tiers-scram\0{seed}\0{password}".encode()).digest()[:16]


def app_verifier(topo: Topology, secrets: Secrets) -> str:
    """The app role's password as the verifier db/app_role.sql sets (stable across renders)."""
    password = secrets.db_app_password
    return scram_verifier(password, stable_salt(f"{topo.cluster.name}/{topo.database.user}", password))


def _yaml_str(value: object) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of YAML's)."""
    return json.dumps(value, ensure_ascii=False)


def _sources(*addresses: str) -> list[str]:
    """Distinct client addresses as /32 networks, 127.0.0.1 first (loopback clients arrive from it), then sorted."""
    rest = sorted(set(addresses) - {"127.0.0.1"})
    return [f"{a}/32" for a in ("127.0.0.1", *rest)]


def _check_identifiers(topo: Topology) -> None:
    for key, value in (("name", topo.database.name), ("user", topo.database.user)):
        if not _IDENT.match(value):
            raise TopologyError(
                f"{topo.source}: [database] {key}: {value!r} must be a plain lowercase SQL identifier "
                "(letters, digits, underscore) so pg_hba.conf needs no quoting"
            )


def _check_synchronous(topo: Topology) -> None:
    db, replicas = topo.database, len(topo.by_role("db")) - 1
    if db.synchronous_mode and db.synchronous_node_count > replicas:
        raise TopologyError(
            f"{topo.source}: [database] synchronous_node_count: {db.synchronous_node_count} but the topology "
            f"has {replicas} replica(s); lower it or add [db.<name>] replicas"
        )


def render_patroni(topo: Topology, node: Node, paths: StatePaths, secrets: Secrets) -> str:
    """Patroni YAML for DB node ``node``; write it to ``paths.conf_file(f"patroni-{node.name}.yml")``."""
    if node.role != "db":
        raise ValueError(f"{node.name} is a {node.role} node, not a db node")
    _check_identifiers(topo)
    _check_synchronous(topo)
    db = topo.database
    post_bootstrap = shlex.join(
        [
            str(paths.repo / "db" / "post_bootstrap.sh"),
            f"{PG_BIN_DIR}/psql",
            db.user,
            db.name,
            app_verifier(topo, secrets),
        ]
    )
    app_roles = ("web", "queue", "worker", "dbproxy", "pgbouncer")
    app_clients = [n.address for role in app_roles for n in topo.by_role(role)]
    return render(
        "db/patroni.yml.j2",
        q=_yaml_str,
        patroni_series="4.1",
        namespace=NAMESPACE,
        cluster=topo.cluster.name,
        node=node,
        venv=str(paths.venv),
        db=db,
        secrets=secrets,
        rest=f"{node.address}:{node.opt('rest_port')}",
        pg=node.endpoint,
        etcd_hosts=[e.endpoint for e in topo.by_role("etcd")],
        etcd_user=PATRONI_ETCD_USER,
        rest_user=REST_USER,
        tls=internal_tls(topo),
        cert=str(internal_cert_file(paths, node)),
        ca=str(paths.ca_cert),
        host="hostssl" if internal_tls(topo) else "host   ",
        max_connections=MAX_CONNECTIONS,
        post_bootstrap=post_bootstrap,
        data_dir=data_dir(paths, node),
        bin_dir=str(PG_BIN_DIR),
        pgpass=pgpass_file(paths, node),
        socket_dir=str(paths.socket_dir(node.name)),
        archive_command=archive_command(topo, node, paths),
        archive_timeout_s=topo.backup.archive_timeout_s,
        db_sources=_sources(*(n.address for n in topo.by_role("db"))),
        # By network when the topology names them (AWS: the private subnets), so scaling out needs no change here.
        app_sources=list(db.client_networks) or _sources(*app_clients),
    )


def patroni_ctl_config(topo: Topology, paths: StatePaths, secrets: Secrets) -> str:
    """patronictl config (``paths.conf_file("patronictl.yml")``, root's only): ``patronictl -c <it> list``.

    It holds the REST API's credentials (switchover, pause...) and Patroni's etcd user.
    """
    hosts = "".join(f"    - {e.endpoint}\n" for e in topo.by_role("etcd"))
    tls = internal_tls(topo)
    ca = _yaml_str(str(paths.ca_cert))
    return (
        f"# patronictl for cluster {topo.cluster.name}: rendered by deploy/render/patroni.py.\n"
        f"scope: {topo.cluster.name}\n"
        f"namespace: {NAMESPACE}\n"
        "ctl:\n"
        "  authentication:\n"
        f"    username: {REST_USER}\n"
        f"    password: {_yaml_str(secrets.patroni_rest_password)}\n"
        + (f"  cacert: {ca}\n" if tls else "")
        + "etcd3:\n"
        f"  protocol: {'https' if tls else 'http'}\n"
        + (f"  cacert: {ca}\n" if tls else "")
        + f"  username: {PATRONI_ETCD_USER}\n"
        f"  password: {_yaml_str(secrets.etcd_patroni_password)}\n"
        "  hosts:\n"
        f"{hosts}"
    )
