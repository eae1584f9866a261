"""web: a stateless Django node under uWSGI; HAProxy balances over them."""

from __future__ import annotations

from ..clients.probes import Prober
from ..model.defaults import READYZ_PROBE_TIMEOUT_S
from ..model.paths import StatePaths
from ..model.topology import PORT, POSITIVE, REQUIRED, Node, RoleSchema
from ..model.units import ConfigFile, Program
from ..render.uwsgi import render_uwsgi
from .base import Flow, Placement, RenderContext, Role, StatusView

# What Django needs: the app role's password, the signing key, the S3 key pair.
APP_SECRETS = frozenset({"db_app_password", "django_secret_key", "s3_access_key", "s3_secret_key"})


def ini_path(paths: StatePaths, node: Node):
    return paths.conf_file(f"uwsgi-{node.name}.ini")


def _files(ctx: RenderContext, node: Node) -> list[ConfigFile]:
    app_dir, version = ctx.node_releases.get(node.name, (None, ""))
    text = render_uwsgi(ctx.topo, node, ctx.paths, ctx.secrets, app_dir, version)
    return [ConfigFile(ini_path(ctx.paths, node), text, 0o600, program=node.name)]


def _program(ctx: RenderContext, node: Node) -> Program:
    # uWSGI with die-on-term: SIGTERM is a graceful stop; harakiri bounds how long it can take.
    paths = ctx.paths
    return Program(
        name=node.name,
        role="web",
        argv=(str(paths.venv / "bin" / "uwsgi"), "--ini", str(ini_path(paths, node))),
        stopwaitsecs=35,
        # uWSGI writes the node's log itself (logto); supervisord keeps only what precedes that.
        stdout_logfile=str(paths.log / f"{node.name}.boot.log"),
    )


def readyz(node: Node, probe: Prober) -> tuple[int, dict[str, str], bytes]:
    """/readyz as HAProxy's checks ask it: on the node's check socket (its own uWSGI worker)."""
    return probe.http_get(node.address, node.opt("check_port"), "/readyz", timeout=READYZ_PROBE_TIMEOUT_S)


def _ready(node: Node, probe: Prober) -> bool:
    return readyz(node, probe)[0] == 200


def _status(node: Node, view: StatusView) -> tuple[str, str]:
    status, headers, _body = readyz(node, view.probe)
    lb = view.lb_servers.get(node.name)
    detail = f"readyz {status}; lb: {lb.summary if lb else '?'}; release {headers.get('x-release') or '?'}"
    return ("ok" if status == 200 else f"http {status}"), detail


ROLE = Role(
    name="web",
    summary="Django 5.2 under uWSGI; stateless, identical, behind the lb",
    schema=RoleSchema(
        keys={
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
        },
        hint='add at least one [web.<name>] table, e.g. [web.web1] address = "127.0.1.1"',
    ),
    priority=50,
    program=_program,
    status=_status,
    terraform=Placement(host_group="web", reaches_s3=True, release_setup=True),
    ingress=(
        Flow("lb", "port", "HAProxy to uWSGI: requests"),
        Flow("lb", "check_port", "HAProxy to uWSGI's check worker: /readyz checks"),
    ),
    packages=("postgresql-client",),
    secrets=APP_SECRETS,
    files=_files,
    ready=_ready,
    ready_timeout_s=60.0,
)
