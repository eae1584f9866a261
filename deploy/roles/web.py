"""web: a stateless Django node under uWSGI; HAProxy balances over them."""

from __future__ import annotations

import json
from collections.abc import Callable

from ..clients.probes import Prober
from ..model.defaults import READYZ_PROBE_TIMEOUT_S
from ..model.paths import StatePaths
from ..model.release import Release
from ..model.topology import PORT, POSITIVE, REQUIRED, Node, RoleSchema, Schema, TopologyError
from ..model.units import ConfigFile, Program
from ..render.uwsgi import render_uwsgi
from .base import Flow, Placement, RenderContext, Role, StatusView

# Django's account: it can read the releases and write its own log and stats socket, nothing else.
USER = "tiers-web"
# What Django needs: the app role's password, the signing key, the S3 key pair, the project's own secrets.
APP_SECRETS = frozenset(
    {"db_app_password", "django_secret_key", "s3_access_key", "s3_secret_key", "app_secrets"}
)


# The schema of a uWSGI node running the app (web, and the waiting room's queue nodes).
UWSGI_KEYS: Schema = {
    "address": (str, REQUIRED),
    "port": (PORT, 8000),
    # HAProxy's /readyz checks: a socket served by a uWSGI worker of its own (render/uwsgi.py).
    "check_port": (PORT, 8001),
    "processes": (POSITIVE, 1),
    "threads": (POSITIVE, 1),
    "harakiri_s": (POSITIVE, 30),
    "max_requests": (POSITIVE, 50000),
    "listen": (POSITIVE, 64),
    "weight": (POSITIVE, 100),
    # CPU niceness (0-19) of the node's processes. 0 on a host of its own; where several roles share a
    # box's cores, a higher value lets the others go first (the local topologies' queue nodes).
    "nice": (int, 0),
}


def check_nice(source: str, nodes: tuple[Node, ...]) -> None:
    for n in nodes:
        if isinstance(n.opt("nice"), bool) or not 0 <= n.opt("nice") <= 19:
            raise TopologyError(
                f"{source}: [{n.role}.{n.name}] nice: must be a whole number 0-19 (a CPU niceness), "
                f"got {n.opt('nice')!r}"
            )


def ini_path(paths: StatePaths, node: Node):
    return paths.conf_file(f"uwsgi-{node.name}.ini")


def uwsgi_files(ctx: RenderContext, node: Node, release: Release | None) -> list[ConfigFile]:
    """The node's uWSGI ini running ``release`` (nothing before the cluster has one)."""
    if release is None:
        return []
    text = render_uwsgi(ctx.topo, node, ctx.paths, ctx.secrets, release, USER)
    return [ConfigFile(ini_path(ctx.paths, node), text, 0o600, USER, node.name)]


def uwsgi_program(ctx: RenderContext, node: Node, release: Release | None) -> Program:
    """uWSGI with die-on-term: SIGTERM is a graceful stop; harakiri bounds how long it can take.

    The release's own uWSGI, built for the project's Python (before the first release: the kit's, which
    only the preflight's binary check looks at)."""
    paths = ctx.paths
    uwsgi = release.uwsgi if release else paths.venv / "bin" / "uwsgi"
    return Program(
        name=node.name,
        role=node.role,
        argv=(str(uwsgi), "--ini", str(ini_path(paths, node))),
        stopwaitsecs=35,
        # uWSGI writes the node's log itself (logto); supervisord keeps only what precedes that.
        stdout_logfile=str(paths.log / f"{node.name}.boot.log"),
    )


def readyz(node: Node, probe: Prober) -> tuple[int, dict[str, str], bytes]:
    """/readyz as HAProxy's checks ask it: on the node's check socket (its own uWSGI worker)."""
    return probe.http_get(node.address, node.opt("check_port"), "/readyz", timeout=READYZ_PROBE_TIMEOUT_S)


def uwsgi_ready(node: Node, probe: Prober) -> bool:
    return readyz(node, probe)[0] == 200


def _release(body: bytes) -> str:
    """The release /readyz reports (its body: production sends no X-Release header)."""
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return "?"
    return str(data.get("release") or "?") if isinstance(data, dict) else "?"


def uwsgi_status(node: Node, view: StatusView) -> tuple[str, str]:
    status, _headers, body = readyz(node, view.probe)
    lb = view.lb_servers.get(node.name)
    detail = f"readyz {status}; lb: {lb.summary if lb else '?'}; release {_release(body)}"
    return ("ok" if status == 200 else f"http {status}"), detail


def uwsgi_role(release_of: Callable[[RenderContext, Node], Release | None]) -> dict:
    """What every role running the project under uWSGI declares alike (web, and the waiting room's queue
    nodes), given where its nodes' release comes from: its files and program on that release, how it
    reports and becomes ready, its account (the same app, the same files it may read) and its secrets
    (the DB password, the signing key, the S3 pair /readyz probes with, the project's own)."""
    return dict(
        priority=50,
        files=lambda ctx, node: uwsgi_files(ctx, node, release_of(ctx, node)),
        program=lambda ctx, node: uwsgi_program(ctx, node, release_of(ctx, node)),
        status=uwsgi_status,
        packages=("postgresql-client",),
        user=USER,
        secrets=APP_SECRETS,
        ready=uwsgi_ready,
        ready_timeout_s=60.0,
    )


ROLE = Role(
    name="web",
    summary="Django 5.2 under uWSGI; stateless, identical, behind the lb",
    schema=RoleSchema(
        keys=UWSGI_KEYS,
        validate=check_nice,
        hint='add at least one [web.<name>] table, e.g. [web.web1] address = "127.0.1.1"',
    ),
    terraform=Placement(host_group="web", reaches_s3=True, release_setup=True),
    ingress=(
        Flow("lb", "port", "HAProxy to uWSGI: requests"),
        Flow("lb", "check_port", "HAProxy to uWSGI's check worker: /readyz checks"),
    ),
    # Each web node runs its own release: mid-deploy they differ.
    **uwsgi_role(lambda ctx, node: ctx.node_releases.get(node.name)),
)
