"""queue: the onsale waiting room's own uWSGI nodes (the same Django app, reached only for the queue URLs).

Buyers waiting for an admission poll every few seconds; on nodes of their own, behind their own HAProxy
backend, that traffic can saturate these nodes without taking a worker from checkout or page views
(docs/ONSALE.md). They run the live release, like the workers, so they hold no release of their own.
"""

from __future__ import annotations

from ..model.topology import Node, RoleSchema
from ..model.units import ConfigFile
from .base import Flow, Placement, RenderContext, Role
from .web import (
    APP_SECRETS,
    USER,
    UWSGI_KEYS,
    check_nice,
    uwsgi_files,
    uwsgi_program,
    uwsgi_ready,
    uwsgi_status,
)


def _files(ctx: RenderContext, node: Node) -> list[ConfigFile]:
    return uwsgi_files(ctx, node, ctx.worker_release or (None, ""))


ROLE = Role(
    name="queue",
    summary="the waiting room's uWSGI nodes: join and poll the onsale queue, apart from checkout",
    schema=RoleSchema(
        keys=UWSGI_KEYS,
        validate=check_nice,
        # None: the waiting room's URLs go to the web nodes (no isolation, but nothing breaks).
        count=(0, None),
    ),
    priority=50,
    program=uwsgi_program,
    status=uwsgi_status,
    terraform=Placement(host_group="queue", reaches_s3=True),
    ingress=(
        Flow("lb", "port", "HAProxy to the waiting room's uWSGI: join and poll"),
        Flow("lb", "check_port", "HAProxy to the queue node's check worker: /readyz checks"),
    ),
    packages=("postgresql-client",),
    # The web nodes' account: the same app, the same files it may read.
    user=USER,
    # The same Django: the DB password (admission pass on the primary), the signing key (queue tokens),
    # and the S3 pair its /readyz probes with.
    secrets=APP_SECRETS,
    files=_files,
    ready=uwsgi_ready,
    ready_timeout_s=60.0,
    follows_live=True,
)
