"""s3: the S3-compatible object store (SeaweedFS locally; S3 itself on AWS)."""

from __future__ import annotations

from pathlib import Path

from ..model.paths import StatePaths
from ..model.tls import TLS_CERT_KEY
from ..model.topology import PORT, REQUIRED, Node, RoleSchema
from ..model.units import ConfigFile, Dir, Program
from ..render.seaweed import grpc_sockets, s3_identities, seaweed_command, seaweed_environment
from .base import Flow, Placement, RenderContext, Role, Tls
from .checks import http
from .db import PATRONI_MODES

# Its own system account (no Debian package brings SeaweedFS): the store's files belong to it alone.
USER = "tiers-s3"


def _files(ctx: RenderContext, node: Node) -> list[ConfigFile]:
    path = ctx.paths.conf_file("s3-identities.json")
    return [ConfigFile(path, s3_identities(ctx.topo, ctx.secrets), 0o600, USER, node.name)]


def _program(ctx: RenderContext, node: Node) -> Program:
    argv = tuple(seaweed_command(ctx.topo, node, ctx.paths))
    env = seaweed_environment(ctx.secrets)
    return Program(name=node.name, role="s3", argv=argv, startsecs=2, stopwaitsecs=15, environment=env)


def _leftovers(_paths: StatePaths, node: Node) -> list[Path]:
    """weed keeps its gRPC sockets in /tmp whatever its flags; one an older, root-run release left there
    cannot be replaced by this account (sticky /tmp), and weed then never serves S3."""
    return grpc_sockets(node)


def _dirs(paths: StatePaths, node: Node) -> list[Dir]:
    return [Dir(paths.data(node.name), 0o700, USER)]


# 403 is an answer: the root listing needs credentials.
_answers, _status = http("/", ok=(200, 403), timeout=1.0)


ROLE = Role(
    name="s3",
    summary="S3-compatible store for media, static and private files (SeaweedFS `weed mini` locally)",
    schema=RoleSchema(
        keys={
            "address": (str, REQUIRED),
            "port": (PORT, 8333),
            # The S3 API over TLS (pgBackRest speaks S3 over HTTPS only); SeaweedFS binds it on
            # 127.0.0.1 too, so it must differ from every other cluster's ports on this machine.
            "https_port": (PORT, 8334),
            TLS_CERT_KEY: (str, ""),
            # SeaweedFS also listens on 127.0.0.1 at these ports and at each port + 10000 (gRPC),
            # whatever its own address (hard-wired in weed): two clusters on one machine need different
            # values. Its filer and volume HTTP APIs demand a JWT on every address (seaweed_environment).
            "master_port": (PORT, 9333),
            "volume_port": (PORT, 9340),
            "filer_port": (PORT, 8888),
        },
        count=(1, 1),
        managed=True,  # AWS S3 itself: its regional endpoint name, port 443
    ),
    # Before the database, so it stops after it: the DB nodes archive WAL to this store, and a leader
    # stopped after it waits on pgBackRest retrying a dead store (a `down` that hung for minutes).
    priority=15,
    program=_program,
    status=_status,
    # The buckets themselves on AWS (module "storage"); rows into s3 become HTTPS egress to S3 there.
    terraform=Placement(host_group="storage", instances_in=()),
    ingress=(
        Flow("web", "port", "Django stores media and signs URLs (on AWS: S3 over HTTPS)"),
        Flow("worker", "port", "task workers read uploads and write tickets (on AWS: S3 over HTTPS)"),
        Flow("queue", "port", "queue nodes' /readyz checks the storage like any Django node"),
        Flow("media", "port", "nginx fetches media and static objects (on AWS: S3 over HTTPS)"),
        Flow(
            "db",
            "https_port",
            "pgBackRest archives WAL and stores backups (on AWS: S3 over HTTPS)",
            PATRONI_MODES,
        ),
    ),
    user=USER,
    secrets=frozenset(
        {"s3_access_key", "s3_secret_key", "seaweed_jwt_key", "backup_s3_access_key", "backup_s3_secret_key"}
    ),
    files=_files,
    dirs=_dirs,
    leftovers=_leftovers,
    ready=_answers,
    ready_timeout_s=60.0,
    # Serves S3 over TLS too, with a certificate from the cluster's CA (pgBackRest: docs/DATABASE.md "Backups").
    tls=Tls(public_name=lambda _node: ""),
)
