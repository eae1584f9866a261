"""worker: the project's background work (tiers.toml ``worker``) off the request path; listens on nothing."""

from __future__ import annotations

import shlex

from ..model.release import Release
from ..model.topology import POSITIVE, REQUIRED, Node, RoleSchema
from ..model.units import Program
from ..render.django_env import web_environment
from .base import Placement, RenderContext, Role, StatusView
from .web import APP_SECRETS


def worker_argv(release: Release) -> tuple[str, ...]:
    """The project's worker command (tiers.toml ``worker``) on the release's Python.

    ``python ...`` runs the release's interpreter; another first word is a console script of the release's
    environment (``celery -A proj worker``), run through that interpreter so no script's shebang (an absolute
    path where the release was built) matters on a host that keeps the release elsewhere. With no worker
    declared the node idles, saying so in its log: the topology's worker hosts stay ready for one."""
    words = shlex.split(release.spec.worker)
    python = str(release.python)
    if not words:
        return (python, "-c", IDLE)
    if words[0] in ("python", "python3"):
        return (python, *words[1:])
    if words[0].startswith("/"):
        return tuple(words)
    return (python, str(release.python.parent / words[0]), *words[1:])


IDLE = "import signal; print('tiers.toml declares no worker: this node idles', flush=True); signal.pause()"


def _program(ctx: RenderContext, node: Node) -> Program:
    # tiers_site's `tasks_worker` (django-tasks-db's Worker with retries; the box office's command) re-queues
    # what a killed predecessor left RUNNING; SIGTERM finishes the task. Workers run the live release, like
    # the web nodes; a deploy or rollback restarts them on it.
    paths = ctx.paths
    release = ctx.worker_release
    if release is None:  # before the first release: only the preflight's binary check reads this
        return Program(name=node.name, role="worker", argv=(str(paths.venv / "bin" / "python"),))
    return Program(
        name=node.name,
        role="worker",
        argv=worker_argv(release),
        directory=str(release.app),
        environment=web_environment(ctx.topo, node, paths, ctx.secrets, release),
        stopwaitsecs=35,
    )


def _status(_node: Node, _view: StatusView) -> tuple[str, str]:
    # A worker listens on nothing: its process state (the PROCESS column) is its health.
    return "ok", ""


ROLE = Role(
    name="worker",
    summary="the project's worker command (the box office: django-tasks with retries, crash recovery)",
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
