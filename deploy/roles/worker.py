"""worker: background tasks (django-tasks-db) off the request path; listens on nothing."""

from __future__ import annotations

from ..model.topology import POSITIVE, REQUIRED, Node, RoleSchema
from ..model.units import Program
from ..render.django_env import web_environment
from .base import Placement, RenderContext, Role, StatusView
from .web import APP_SECRETS


def _program(ctx: RenderContext, node: Node) -> Program:
    # django-tasks-db's worker command is `db_worker`; `tasks_worker` (boxoffice) runs the same Worker
    # with retries and re-queues what a killed predecessor left RUNNING. SIGTERM finishes the task.
    # Workers run the live release, like the web nodes; a deploy or rollback restarts them on it.
    paths = ctx.paths
    app, version = ctx.worker_release or (paths.app, "")
    environment = web_environment(ctx.topo, node, paths, ctx.secrets)
    if version:
        environment["TIERS_RELEASE"] = version
    return Program(
        name=node.name,
        role="worker",
        argv=(str(paths.venv / "bin" / "python"), str(app / "manage.py"), "tasks_worker"),
        directory=str(app),
        environment=environment,
        stopwaitsecs=35,
    )


def _status(_node: Node, _view: StatusView) -> tuple[str, str]:
    # A worker listens on nothing: its process state (the PROCESS column) is its health.
    return "ok", ""


ROLE = Role(
    name="worker",
    summary="django-tasks workers: image processing, tickets; retries, crash recovery",
    schema=RoleSchema(
        keys={
            "address": (str, REQUIRED),
            "processes": (POSITIVE, 1),
        },
        count=(0, None),
    ),
    priority=60,
    program=_program,
    status=_status,
    terraform=Placement(host_group="worker", reaches_s3=True),
    # Listens on nothing: no rows into it (its own rows are in db, dbproxy, cache and s3).
    ingress=(),
    packages=("postgresql-client",),
    # Not the web nodes' account: a worker decodes untrusted uploads (Pillow), so a decoder exploit
    # lands in an account that can signal or read nothing of the web nodes'.
    user="tiers-worker",
    secrets=APP_SECRETS,
    # No probe: running past startsecs is its readiness (ready=None).
    ready_timeout_s=30.0,
    follows_live=True,
)
