"""media: the nginx media host; serves and caches media and static files from S3, never Django."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..model.defaults import NGINX
from ..model.paths import StatePaths
from ..model.topology import PORT, POSITIVE, REQUIRED, Node, RoleSchema, TopologyError
from ..model.units import ConfigFile, Dir, Program
from ..render.nginx import render_media
from .base import TLS_KEYS, Placement, RenderContext, Role, Tls
from .checks import http

# nginx's own account, not Debian's www-data (which other sites on a host may share).
USER = "tiers-media"


def _validate(source: str, nodes: tuple[Node, ...]) -> None:
    for n in nodes:
        url = n.opt("public_url")
        if url and not re.match(r"^https?://[^/\s]+/?$", url):
            raise TopologyError(
                f"{source}: [media.{n.name}] public_url: {url!r} must be a scheme and host only, "
                'e.g. "https://media.example.com"'
            )


def config_path(paths: StatePaths, node: Node):
    return paths.conf_file(f"nginx-{node.name}.conf")


def _files(ctx: RenderContext, node: Node) -> list[ConfigFile]:
    return [ConfigFile(config_path(ctx.paths, node), render_media(ctx.topo, ctx.paths), program=node.name)]


def _dirs(paths: StatePaths, node: Node) -> list[Dir]:
    # nginx (-p <data dir>) creates its cache and temp paths (the last level) itself.
    return [Dir(paths.data(node.name), 0o700, USER)]


def _program(ctx: RenderContext, node: Node) -> Program:
    # Master and workers run as USER (in production the unit lends it CAP_NET_BIND_SERVICE for 80/443).
    # -e stderr: the compiled-in error log (/var/log/nginx) is not this user's to open. SIGQUIT: graceful stop.
    data, conf = str(ctx.paths.data(node.name)), str(config_path(ctx.paths, node))
    argv = (NGINX, "-e", "stderr", "-p", data, "-c", conf)
    return Program(name=node.name, role="media", argv=argv, stopsignal="QUIT")


def _public_host(node: Node) -> str:
    return urlsplit(node.opt("public_url")).hostname or "" if node.opt("public_url") else ""


_healthz, _status = http("/healthz")


ROLE = Role(
    name="media",
    summary="nginx: media and static from S3 through an on-disk cache (HTTPS); private files by signed URL",
    schema=RoleSchema(
        keys={
            "address": (str, REQUIRED),
            # Plain HTTP: served in the local profile, redirected to HTTPS in production (but /healthz).
            "port": (PORT, 8080),
            **TLS_KEYS,
            "cache_size_mb": (POSITIVE, 256),
            # The base URL browsers fetch media from (production: https://media.example.com); "" = http://address:port.
            "public_url": (str, ""),
            # DNS server nginx resolves a managed S3 endpoint's name with (AWS: "169.254.169.253").
            "resolver": (str, ""),
        },
        count=(1, 1),
        validate=_validate,
    ),
    priority=70,
    program=_program,
    status=_status,
    terraform=Placement(host_group="storage", public=True, reaches_s3=True, debian_units=("nginx",)),
    ingress=(),  # from the internet only (Placement.public)
    packages=("nginx",),
    binaries=(NGINX,),
    user=USER,
    capabilities=("CAP_NET_BIND_SERVICE",),
    tls=Tls(public_name=_public_host),
    files=_files,
    dirs=_dirs,
    ready=_healthz,
    ready_timeout_s=20.0,
    # Graceful reload: new workers take the config, old ones finish their responses.
    reload="HUP",
)
