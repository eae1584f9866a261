"""queue: the onsale waiting room's own uWSGI nodes (the same Django app, reached only for the queue URLs).

Buyers waiting for an admission poll every few seconds; on nodes of their own, behind their own HAProxy
backend, that traffic can saturate these nodes without taking a worker from checkout or page views
(docs/ONSALE.md). They run the live release, like the workers, so they hold no release of their own.
"""

from __future__ import annotations

from ..model.topology import RoleSchema
from .base import Flow, Placement, Role
from .web import UWSGI_KEYS, check_nice, uwsgi_role

ROLE = Role(
    name="queue",
    summary="the waiting room's uWSGI nodes: join and poll the onsale queue, apart from checkout",
    schema=RoleSchema(
        keys=UWSGI_KEYS,
        validate=check_nice,
        # None: the waiting room's URLs go to the web nodes (no isolation, but nothing breaks).
        count=(0, None),
    ),
    terraform=Placement(host_group="queue", reaches_s3=True),
    ingress=(
        Flow("lb", "port", "HAProxy to the waiting room's uWSGI: join and poll"),
        Flow("lb", "check_port", "HAProxy to the queue node's check worker: /readyz checks"),
    ),
    follows_live=True,
    # The same Django as web: the DB password (admission pass on the primary), the signing key (queue
    # tokens), the web nodes' account; the live release's code.
    **uwsgi_role(lambda ctx, _node: ctx.worker_release),
)
