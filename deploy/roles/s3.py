"""s3: the S3-compatible object store (SeaweedFS locally; S3 itself on AWS)."""

from __future__ import annotations

from ..model.paths import StatePaths
from ..model.topology import PORT, REQUIRED, Node, RoleSchema
from ..model.units import ConfigFile, Dir, Program
from ..render.seaweed import s3_identities, seaweed_command
from .base import Flow, Placement, RenderContext, Role
from .checks import http


def _files(ctx: RenderContext, node: Node) -> list[ConfigFile]:
    path = ctx.paths.conf_file("s3-identities.json")
    return [ConfigFile(path, s3_identities(ctx.topo, ctx.secrets), 0o600, program=node.name)]


def _program(ctx: RenderContext, node: Node) -> Program:
    argv = tuple(seaweed_command(ctx.topo, node, ctx.paths))
    return Program(name=node.name, role="s3", argv=argv, startsecs=2, stopwaitsecs=15)


def _dirs(paths: StatePaths, node: Node) -> list[Dir]:
    return [Dir(paths.data(node.name))]


# 403 is an answer: the root listing needs credentials.
_answers, _status = http("/", ok=(200, 403), timeout=1.0)


ROLE = Role(
    name="s3",
    summary="S3-compatible store for media, static and private files (SeaweedFS `weed mini` locally)",
    schema=RoleSchema(
        keys={
            "address": (str, REQUIRED),
            "port": (PORT, 8333),
            # SeaweedFS also listens on 127.0.0.1 at these ports and at each port + 10000 (gRPC),
            # whatever its own address: two clusters on one machine need different values.
            "master_port": (PORT, 9333),
            "volume_port": (PORT, 9340),
            "filer_port": (PORT, 8888),
        },
        count=(1, 1),
        managed=True,  # AWS S3 itself: its regional endpoint name, port 443
    ),
    priority=30,
    program=_program,
    status=_status,
    # The buckets themselves on AWS (module "storage"); rows into s3 become HTTPS egress to S3 there.
    terraform=Placement(host_group="storage", instances_in=()),
    ingress=(
        Flow("web", "port", "Django stores media and signs URLs (on AWS: S3 over HTTPS)"),
        Flow("worker", "port", "task workers read uploads and write tickets (on AWS: S3 over HTTPS)"),
        Flow("media", "port", "nginx fetches media and static objects (on AWS: S3 over HTTPS)"),
    ),
    secrets=frozenset({"s3_access_key", "s3_secret_key"}),
    files=_files,
    dirs=_dirs,
    ready=_answers,
    ready_timeout_s=60.0,
)
