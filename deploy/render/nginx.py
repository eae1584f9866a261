"""nginx config of the media tier: serves and caches media and static files from S3, never Django.

Run as ``nginx -e stderr -p <paths.data(media)> -c <paths.conf_file("nginx-media.conf")>`` by the
media role's own account, master included. ``daemon off`` keeps it in the foreground for the process
manager. Everything nginx writes lives under the node's data dir (cache, temp files), its run folder
(pid) or stdout/stderr (logs); nothing under /var/lib/nginx. Directories that must exist before
start are listed by :func:`media_dirs`.
"""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path

from ..model.defaults import TLS12_CIPHERS
from ..model.paths import StatePaths
from ..model.tls import cert_file
from ..model.topology import Topology, TopologyError
from .templates import render

# S3 response headers a browser has no business seeing (request ids, storage details).
# nginx already drops the upstream's Server, Date and X-Accel-* headers by default.
S3_HIDDEN_HEADERS = (
    "x-amz-request-id",
    "x-amz-id-2",
    "x-amz-version-id",
    "x-amz-delete-marker",
    "x-amz-expiration",
    "x-amz-restore",
    "x-amz-server-side-encryption",
    "x-amz-storage-class",
    "x-amz-replication-status",
    "x-amz-tagging-count",
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
    "x-amz-website-redirect-location",
    "x-amz-mp-parts-count",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
)

# How long Django's presigned private URLs live (app/tiers_site/config.py "querystring_expire"):
# only quoted in the config's comments; S3 enforces the expiry.
PRIVATE_URL_SECONDS = 120

# Debian's CA bundle (ca-certificates): what nginx checks S3's certificate against.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

# Temp dirs nginx would otherwise create under /var/lib/nginx (Debian's compiled-in paths).
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def host_port(address: str, port: int) -> str:
    """``address:port`` as nginx parses it (IPv6 literals in brackets, DNS names as they are)."""
    if ":" in address and ipaddress.ip_address(address).version == 6:
        return f"[{address}]:{port}"
    return f"{address}:{port}"


def keys_zone_mb(cache_size_mb: int) -> int:
    """Shared-memory keys zone for the disk cache.

    1 MB of keys zone holds about 8,000 entries, i.e. 1 MB per 128 MB of cache at 16 KB a file.
    """
    return max(1, math.ceil(cache_size_mb / 128))


def media_pid_file(topo: Topology, paths: StatePaths) -> Path:
    return paths.socket_dir(topo.one("media").name) / "nginx.pid"


def media_dirs(topo: Topology, paths: StatePaths) -> tuple[Path, ...]:
    """Directories that must exist before nginx starts (it creates only the last level itself)."""
    return (paths.data(topo.one("media").name), paths.run)


def render_media(topo: Topology, paths: StatePaths) -> str:
    """``nginx-media.conf``: media and static from the S3 buckets, through an on-disk cache."""
    media = topo.one("media")
    s3 = topo.one("s3")
    data = paths.data(media.name)
    if s3.managed and not media.opt("resolver"):
        raise TopologyError(
            f"{topo.source}: [media.{media.name}] resolver: S3 is a managed endpoint ({s3.address}), so "
            'nginx must resolve its name at request time: set resolver (on AWS "169.254.169.253")'
        )
    cache_mb = media.opt("cache_size_mb")
    return render(
        "nginx/media.conf.j2",
        cluster=topo.cluster.name,
        media=media,
        listen=host_port(media.address, media.port),
        listen_tls=host_port(media.address, media.opt("https_port")),
        https_port=media.opt("https_port"),
        production=topo.cluster.profile == "production",
        cert=str(cert_file(paths, media)),
        tls12_ciphers=TLS12_CIPHERS,
        # The Host header Django's presigned URLs were signed for: no port when it is HTTPS's own.
        s3_endpoint=s3.address if s3.managed and s3.port == 443 else host_port(s3.address, s3.port),
        # A managed S3 (AWS) is reached over HTTPS by name; our own SeaweedFS over plain HTTP.
        s3_tls=s3.managed,
        s3_host=s3.address,
        resolver=media.opt("resolver"),
        ca_bundle=CA_BUNDLE,
        pid_file=str(media_pid_file(topo, paths)),
        access_log=str(paths.log_file(media.name).parent / "access.log"),
        temp_dirs={name: str(data / f"{name}_temp") for name in TEMP_DIRS},
        cache_dir=str(data / "cache"),
        cache_size_mb=cache_mb,
        keys_zone_mb=keys_zone_mb(cache_mb),
        media_bucket=topo.storage.media_bucket,
        static_bucket=topo.storage.static_bucket,
        private_bucket=topo.storage.private_bucket,
        private_url_seconds=PRIVATE_URL_SECONDS,
        hidden_headers=S3_HIDDEN_HEADERS,
    )
