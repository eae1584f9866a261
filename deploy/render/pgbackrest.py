"""pgBackRest for the DB tier: one config per DB node, and the argv of every pgBackRest command we run.

The repository is the S3 store's backup bucket, under ``/<cluster>``; the stanza is named after the
cluster. Every DB node archives its WAL through the same repository when it is the primary (Patroni
sets ``archive_command`` from :func:`archive_command`, so archiving follows a failover).

Locally the store is SeaweedFS, whose S3 API we serve over TLS as well (pgBackRest speaks S3 over HTTPS
only). pgBackRest 2.45 cannot match a certificate issued for an IP address (it compares the host with
DNS names only), and loopback nodes have no DNS names, so the local profile encrypts without verifying
the certificate; with ``[storage] endpoint_url`` (AWS) it verifies against the system's CAs and signs
with the host's instance role.
"""

from __future__ import annotations

import shlex
from urllib.parse import urlsplit

from ..model.paths import StatePaths
from ..model.secrets import Secrets
from ..model.topology import Node, Topology, TopologyError

PGBACKREST = "/usr/bin/pgbackrest"
# Files copied and compressed at once by backup and restore: this box has 2 cores, shared by every node.
PROCESS_MAX = 2
BACKUP_TYPES = ("full", "diff", "incr")


def stanza(topo: Topology) -> str:
    return topo.cluster.name


def config_path(paths: StatePaths, node: Node) -> str:
    return str(paths.conf_file(f"pgbackrest-{node.name}.conf"))


def lock_dir(paths: StatePaths, node: Node) -> str:
    """Under the node's own socket dir (owned by postgres): pgBackRest's lock files."""
    return str(paths.socket_dir(node.name) / "pgbackrest")


def _endpoint(topo: Topology) -> list[str]:
    """The repository's S3 endpoint lines: AWS's regional endpoint, or the local S3 node's TLS port."""
    storage = topo.storage
    if storage.endpoint_url:
        url = urlsplit(storage.endpoint_url)
        if url.scheme != "https" or not url.hostname:
            raise TopologyError(
                f"{topo.source}: [storage] endpoint_url: {storage.endpoint_url!r} must be an https:// URL "
                "(pgBackRest speaks S3 over HTTPS only)"
            )
        lines = [f"repo1-s3-endpoint={url.hostname}"]
        return lines + ([f"repo1-storage-port={url.port}"] if url.port else [])
    s3 = topo.one("s3")
    return [
        f"repo1-s3-endpoint={s3.address}",
        f"repo1-storage-port={s3.opt('https_port')}",
        "# Encrypted but not verified: pgBackRest 2.45 cannot match a certificate to an IP address.",
        "repo1-storage-verify-tls=n",
    ]


def _credentials(topo: Topology, secrets: Secrets) -> list[str]:
    if topo.storage.endpoint_url and not secrets.backup_s3_access_key:
        return ["# The host's instance role signs the requests (its IAM policy: the backup bucket only).",
                "repo1-s3-key-type=auto"]  # fmt: skip
    return [
        f"repo1-s3-key={secrets.backup_s3_access_key}",
        f"repo1-s3-key-secret={secrets.backup_s3_secret_key}",
    ]


def render_config(topo: Topology, node: Node, paths: StatePaths, secrets: Secrets) -> str:
    """``conf/pgbackrest-<node>.conf`` (0600, owner postgres: it holds the repository's key pair)."""
    storage, backup = topo.storage, topo.backup
    style = "path" if storage.addressing_style == "path" else "host"
    lines = [
        f"# pgBackRest for DB node {node.name} of cluster {topo.cluster.name}: rendered by",
        "# deploy/render/pgbackrest.py from the topology; do not edit (the next `make up` overwrites it).",
        "[global]",
        "repo1-type=s3",
        f"repo1-s3-bucket={storage.backup_bucket}",
        f"repo1-s3-region={storage.region}",
        f"repo1-s3-uri-style={style}",
        *_endpoint(topo),
        *_credentials(topo, secrets),
        "# One bucket may hold several clusters' repositories.",
        f"repo1-path=/{topo.cluster.name}",
        "# Full backups kept, and differentials per full ([backup] in the topology); WAL older than the",
        "# oldest kept full backup is expired with it.",
        f"repo1-retention-full={backup.retention_full}",
        f"repo1-retention-diff={backup.retention_diff}",
        "# Small files go into bundles: far fewer S3 requests per backup.",
        "repo1-bundle=y",
        "compress-type=zst",
        f"process-max={PROCESS_MAX}",
        "# Backups begin with an immediate checkpoint instead of waiting for a spread one.",
        "start-fast=y",
        "# How long backup and check wait for a WAL segment to reach the archive.",
        "archive-timeout=60",
        "# Output goes to the caller (the orchestrator, or PostgreSQL's log for archive-push).",
        "log-level-console=info",
        "log-level-stderr=warn",
        "log-level-file=off",
        f"lock-path={lock_dir(paths, node)}",
        "",
        f"[{stanza(topo)}]",
        f"pg1-path={paths.data(node.name) / 'pgdata'}",
        f"pg1-port={node.port}",
        f"pg1-socket-path={paths.socket_dir(node.name)}",
        "pg1-user=postgres",
    ]
    return "\n".join(lines) + "\n"


def _base(paths: StatePaths, node: Node, topo: Topology) -> list[str]:
    return [PGBACKREST, f"--config={config_path(paths, node)}", f"--stanza={stanza(topo)}"]


def archive_command(topo: Topology, node: Node, paths: StatePaths) -> str:
    """PostgreSQL's archive_command on ``node`` (Patroni writes it; PostgreSQL expands %p)."""
    return shlex.join(_base(paths, node, topo)) + " archive-push %p"


def as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv]


def command_argv(topo: Topology, node: Node, paths: StatePaths, command: str, *options: str) -> list[str]:
    """``pgbackrest <command>`` with ``node``'s config, as the postgres OS user (stanza-create, check, info...)."""
    return as_postgres([*_base(paths, node, topo), *options, command])


def backup_argv(
    topo: Topology, node: Node, paths: StatePaths, kind: str, standby: Node | None = None
) -> list[str]:
    """A ``kind`` backup run on ``node``'s host; with ``standby`` (a replica whose data directory is on the
    same host), the files are copied from it and the primary only starts and stops the backup."""
    if kind not in BACKUP_TYPES:
        raise ValueError(f"backup type {kind!r} is not one of {', '.join(BACKUP_TYPES)}")
    options = [f"--type={kind}"]
    if standby is not None:
        options += [
            f"--pg2-path={paths.data(standby.name) / 'pgdata'}",
            f"--pg2-port={standby.port}",
            f"--pg2-socket-path={paths.socket_dir(standby.name)}",
            "--pg2-user=postgres",
            "--backup-standby",
        ]
    return command_argv(topo, node, paths, "backup", *options)


def restore_argv(
    topo: Topology, node: Node, paths: StatePaths, target_dir: str, backup_set: str, xid: int
) -> list[str]:
    """Restore ``backup_set`` into ``target_dir`` and recover up to and including transaction ``xid``,
    then promote (a scratch copy: it archives nothing)."""
    return command_argv(
        topo, node, paths, "restore",
        f"--pg1-path={target_dir}", f"--set={backup_set}", "--type=xid", f"--target={xid}",
        "--target-action=promote", "--archive-mode=off",
    )  # fmt: skip
