"""HAProxy configs: the site load balancer (lb node) and the PostgreSQL primary endpoint (dbproxy).

Both run in the foreground in master-worker mode (``haproxy -W -db -f <file>``) under the
process manager; a reload is SIGUSR2 to the master. Logs go to stdout, which the process
manager captures into the node's log file.

Before a reload of the site LB the orchestrator saves the server states with the runtime API
(``show servers state`` written to ``paths.haproxy_server_state``); the new workers load them,
so a drained or maintenance web node stays that way across the reload.
"""

from __future__ import annotations

from ..model.paths import StatePaths
from ..model.topology import Node, Topology
from .templates import render

# Names the orchestrator uses with the runtime API (`set server web/web1 state drain`).
LB_BACKEND = "web"
DBPROXY_BACKEND = "postgres"

# Headroom above uWSGI's harakiri: HAProxy should see the worker killed and answered by
# uWSGI, not give up on the server first.
SERVER_TIMEOUT_MARGIN_S = 5


# Every web server's check and traffic settings (`default-server` in the config, and spelt out for
# servers added at runtime with `add server`, which ignores default-server). slowstart ramps a node
# that comes back (a deploy's `state ready`) from 0 to its full weight over 10s.
DEFAULT_SERVER = "check inter 1s fall 2 rise 2 slowstart 10s observe layer4 error-limit 2 on-error mark-down"


def web_server(node: Node) -> dict:
    """One web node as an HAProxy server of the site backend."""
    return {
        "name": node.name,
        "endpoint": node.endpoint,
        # One connection per uWSGI worker (processes x threads): excess requests wait in
        # HAProxy's queue, where any free node can take them, not in one node's backlog.
        "maxconn": node.opt("processes") * node.opt("threads"),
        "weight": node.opt("weight"),
    }


def dynamic_server_args(node: Node) -> str:
    """Arguments of `add server web/<name> ...` (runtime API) equal to the rendered server line."""
    s = web_server(node)
    return f"{s['endpoint']} {DEFAULT_SERVER} maxconn {s['maxconn']} weight {s['weight']}"


def dbproxy_admin_sock(paths: StatePaths) -> str:
    """Runtime API socket of the dbproxy (kept apart from the site LB's)."""
    return str(paths.run / "haproxy-dbproxy.sock")


def render_lb(topo: Topology, paths: StatePaths) -> str:
    """``haproxy-lb.cfg``: HTTP load balancer in front of every web node."""
    lb = topo.one("lb")
    servers = [web_server(w) for w in topo.by_role("web")]
    harakiri = max(w.opt("harakiri_s") for w in topo.by_role("web"))
    return render(
        "haproxy/lb.cfg.j2",
        cluster=topo.cluster.name,
        lb=lb,
        backend=LB_BACKEND,
        servers=servers,
        default_server=DEFAULT_SERVER,
        admin_sock=str(paths.haproxy_admin_sock),
        state_file=str(paths.haproxy_server_state),
        timeout_server_s=harakiri + SERVER_TIMEOUT_MARGIN_S,
        harakiri_s=harakiri,
        # Old workers of a reload finish their requests, but never for longer than this.
        hard_stop_after_s=harakiri + SERVER_TIMEOUT_MARGIN_S + lb.opt("timeout_queue_s"),
    )


def render_dbproxy(topo: Topology, paths: StatePaths) -> str:
    """``haproxy-dbproxy.cfg``: TCP endpoint that always points at Patroni's current leader."""
    proxy = topo.one("dbproxy")
    return render(
        "haproxy/dbproxy.cfg.j2",
        cluster=topo.cluster.name,
        proxy=proxy,
        backend=DBPROXY_BACKEND,
        servers=[
            {"name": n.name, "endpoint": n.endpoint, "rest_port": n.opt("rest_port")}
            for n in topo.by_role("db")
        ],
        admin_sock=dbproxy_admin_sock(paths),
        # The stats listener and the runtime API need a few connections beyond the proxy's own.
        global_maxconn=proxy.opt("maxconn") + 50,
    )
