"""uWSGI ini for one web node."""

from __future__ import annotations

from ..model.defaults import LOG_MAX_BYTES
from ..model.paths import StatePaths
from ..model.release import Release
from ..model.secrets import Secrets
from ..model.topology import Node, Topology
from .django_env import web_environment
from .templates import render


def render_uwsgi(
    topo: Topology,
    node: Node,
    paths: StatePaths,
    secrets: Secrets,
    release: Release,
    user: str = "",
) -> str:
    """The ini for ``node`` running ``release``: the project's code and WSGI callable, on the release's
    Python, with the integration on its path. The version becomes ``TIERS_RELEASE``, which the app reports
    in its ``X-Release`` header and ``/readyz`` body. ``user``: the account uWSGI drops to if root starts it.
    """
    environment = web_environment(topo, node, paths, secrets, release)
    processes = node.opt("processes")
    return render(
        "deploy/templates/uwsgi.ini.j2",
        node=node,
        check_socket=f"{node.address}:{node.opt('check_port')}",
        # Workers 1..processes serve the site socket; one more serves the check socket alone.
        app_workers=",".join(str(i) for i in range(1, processes + 1)),
        check_worker=processes + 1,
        # The load balancer refuses larger bodies first; this holds for anything reaching the node directly.
        limit_post=topo.one("lb").opt("max_body_mb") * 1024 * 1024,
        log_max_bytes=LOG_MAX_BYTES,
        release=release,
        stats_socket=paths.uwsgi_stats_sock(node.name),
        log_file=paths.log_file(node.name),
        environment=environment,
        user=user,
    )
