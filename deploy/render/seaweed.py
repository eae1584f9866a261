"""SeaweedFS (the local S3-compatible store): command line and S3 identities."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from ..model.paths import StatePaths
from ..model.secrets import Secrets
from ..model.tls import cert_file
from ..model.topology import Node, Topology


def s3_identities(topo: Topology, secrets: Secrets) -> str:
    """The -s3.config JSON: the app's key pair, pgBackRest's, and anonymous reads of the public buckets only.

    The media server fetches public media and static files anonymously; anything else
    (the private bucket's ticket PDFs and unpublished originals, writes, listing) needs the key pair; the
    media server reaches private objects only with a URL Django presigned with it. The app's pair reaches
    every bucket but the backups; pgBackRest's pair reaches the backup bucket only.
    """
    storage = topo.storage
    public = [storage.media_bucket, storage.static_bucket]
    app_buckets = [*public, storage.private_bucket]
    backup = storage.backup_bucket
    data = {
        "identities": [
            {
                "name": "tiers-app",
                "credentials": [{"accessKey": secrets.s3_access_key, "secretKey": secrets.s3_secret_key}],
                "actions": [
                    f"{a}:{b}" for b in app_buckets for a in ("Admin", "Read", "Write", "List", "Tagging")
                ],
            },
            {
                "name": "tiers-backup",
                "credentials": [
                    {"accessKey": secrets.backup_s3_access_key, "secretKey": secrets.backup_s3_secret_key}
                ],
                "actions": [f"Read:{backup}", f"Write:{backup}", f"List:{backup}"],
            },
            {"name": "anonymous", "actions": [f"Read:{bucket}" for bucket in public]},
        ]
    }
    return json.dumps(data, indent=2) + "\n"


# security.toml's keys, as the WEED_* environment variables SeaweedFS reads instead of the file.
_JWT_KEYS = (
    # master -> volume: writes (the master signs each assigned file id) and reads
    "WEED_JWT_SIGNING_KEY",
    "WEED_JWT_SIGNING_READ_KEY",
    # filer HTTP API: writes and reads (the S3 gateway in the same process signs its own)
    "WEED_JWT_FILER_SIGNING_KEY",
    "WEED_JWT_FILER_SIGNING_READ_KEY",
)


def seaweed_environment(secrets: Secrets) -> dict[str, str]:
    """SeaweedFS's security settings: the filer and volume APIs refuse a caller without a JWT signed with
    these keys (one per purpose, derived from the seaweed_jwt_key secret, so a read token never writes),
    on every address they listen on; the S3 gateway (its access keys) is the only way in. In the
    environment, not a security.toml: the process manager's config is root's only, like every secret."""
    env = {
        name: hmac.new(secrets.seaweed_jwt_key.encode(), name.encode(), hashlib.sha256).hexdigest()
        for name in _JWT_KEYS
    }
    # No volume status page, and the filer lists no directory even to a signed caller's browser.
    env["WEED_ACCESS_UI"] = "false"
    env["WEED_FILER_EXPOSE_DIRECTORY_METADATA_ENABLED"] = "false"
    return env


# weed serves gRPC on each HTTP port + 10000, and on a unix socket per service in /tmp (not configurable).
GRPC_OFFSET = 10000


def grpc_sockets(node: Node) -> list[Path]:
    ports = {"s3": node.port, "master": node.opt("master_port"), "volume": node.opt("volume_port"),
             "filer": node.opt("filer_port")}  # fmt: skip
    return [Path(f"/tmp/seaweedfs-{name}-grpc-{port + GRPC_OFFSET}.sock") for name, port in ports.items()]


def seaweed_command(topo: Topology, node: Node, paths: StatePaths) -> list[str]:
    """argv for ``weed mini`` (master, volume, filer and S3 in one process) on the node's address."""
    storage = topo.storage
    buckets = [storage.media_bucket, storage.static_bucket, storage.private_bucket, storage.backup_bucket]
    # One PEM (chain, then key): Go's key-pair loader skips the blocks it does not want in each file.
    pem = str(cert_file(paths, node))
    return [
        str(paths.venv / "bin" / "weed"),
        "mini",
        f"-dir={paths.data(node.name)}",
        # Without these it binds 0.0.0.0 and advertises the machine's external address.
        f"-ip={node.address}",
        f"-ip.bind={node.address}",
        f"-s3.port={node.port}",
        # The same S3 API over TLS, for pgBackRest (it speaks S3 over HTTPS only): certificate from the
        # cluster's CA (deploy/commands/pki.py).
        f"-s3.port.https={node.opt('https_port')}",
        f"-s3.cert.file={pem}",
        f"-s3.key.file={pem}",
        f"-master.port={node.opt('master_port')}",
        f"-volume.port={node.opt('volume_port')}",
        f"-filer.port={node.opt('filer_port')}",
        f"-s3.config={paths.conf_file('s3-identities.json')}",
        # Its local sockets in the node's own run folder, not /tmp (where another account's may linger).
        f"-filer.localSocket={paths.socket_dir(node.name) / 'filer.sock'}",
        f"-s3.localSocket={paths.socket_dir(node.name) / 's3.sock'}",
        # Side services we do not use: fewer ports, less memory.
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        # Created at start if missing (`make up` never needs a separate bucket step).
        f"-bucket={','.join(buckets)}",
    ]
