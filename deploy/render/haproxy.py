"""HAProxy configs: the site load balancer (lb node) and the PostgreSQL primary endpoint (dbproxy).

Both run in the foreground in master-worker mode (``haproxy -W -db -f <file>``) under the
process manager; a reload is SIGUSR2 to the master. The dbproxy logs to stdout, which the process
manager captures; the site LB, which logs a line per request, sends them to its own rsyslog
(:func:`render_lb_syslog`), started by its master, which writes the node's log file.

Before a reload of the site LB the orchestrator saves the server states with the runtime API
(``show servers state`` written to ``paths.haproxy_server_state``); the new workers load them,
so a drained or maintenance web node stays that way across the reload.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from ..model.app import UrlClasses
from ..model.defaults import LOG_MAX_BYTES, RSYSLOGD, TLS12_CIPHERS, TLS13_CIPHERSUITES
from ..model.paths import StatePaths
from ..model.secrets import Secrets
from ..model.tls import cert_file, internal_tls
from ..model.topology import Node, Topology
from .templates import render

# Names the orchestrator uses with the runtime API (`set server web/web1 state drain`).
LB_BACKEND = "web"
# The same web nodes without health checks, used only while every server of LB_BACKEND is down.
PANIC_BACKEND = "web_panic"
DBPROXY_BACKEND = "postgres"
# The onsale waiting room's nodes (role queue), reached only for the queue URLs.
QUEUE_BACKEND = "queue"

# HAProxy's own 503 page (queue full, queue timeout, no server): one line, no quotes (it is a config string).
BUSY_PAGE = (
    "<!doctype html><title>Busy</title><h1>Very busy right now</h1>"
    "<p>Every server is taken. Nothing was lost: please try again in a few seconds.</p>"
)

# The stats page's user; its password is the lb_stats_password secret.
STATS_USER = "admin"

# Response headers for operators and tests (deploy/commands/bench.py, the rolling-deploy tests): sent in the
# local profile only; the production LB removes them.
DEBUG_HEADERS = ("X-Served-By", "X-Release", "X-DB-Reads", "X-Scheme")

# Paths only HAProxy's own checks may ask for: the readiness report names internal addresses,
# versions and buckets, and each call probes every dependency.
INTERNAL_PATHS = ("readyz", "metrics")


# Headroom above uWSGI's harakiri: HAProxy should see the worker killed and answered by
# uWSGI, not give up on the server first.
SERVER_TIMEOUT_MARGIN_S = 5


# Every web server's check and traffic settings (`default-server` in the config, and spelt out for
# servers added at runtime with `add server`, which ignores default-server). slowstart ramps a node
# that comes back (a deploy's `state ready`) from 0 to its full weight over 10s.
DEFAULT_SERVER = "check inter 1s fall 2 rise 2 slowstart 10s observe layer4 error-limit 2 on-error mark-down"


def web_server(node: Node, pipeline: int) -> dict:
    """One web node as an HAProxy server of the site backend (``pipeline``: the lb's server_pipeline)."""
    return {
        "name": node.name,
        "endpoint": node.endpoint,
        # One connection per uWSGI worker (processes x threads), plus `pipeline` more that wait in the
        # node's listen backlog so a worker never idles while HAProxy hands it the next request;
        # the rest wait in HAProxy's queue, where any free node can take them.
        "maxconn": node.opt("processes") * node.opt("threads") + pipeline,
        "weight": node.opt("weight"),
        # /readyz is asked on the node's check socket, served by a worker of its own (render/uwsgi.py).
        "check_port": node.opt("check_port"),
    }


def _server_params(s: dict) -> str:
    return f"maxconn {s['maxconn']} weight {s['weight']}"


def dynamic_server_args(node: Node, pipeline: int) -> str:
    """Arguments of `add server web/<name> ...` (runtime API) equal to the rendered server line."""
    s = web_server(node, pipeline)
    return f"{s['endpoint']} {DEFAULT_SERVER} port {s['check_port']} {_server_params(s)}"


def panic_server_args(node: Node, pipeline: int) -> str:
    """Arguments of `add server web_panic/<name> ...`: the same node, never checked."""
    s = web_server(node, pipeline)
    return f"{s['endpoint']} {_server_params(s)}"


def lb_jail(paths: StatePaths) -> Path:
    """Production: the empty folder the LB's workers chroot into; the log socket is its ``/dev/log``."""
    return paths.lb_run / "jail"


def lb_log_socket(topo: Topology, paths: StatePaths) -> str:
    """The unix datagram socket the site LB's rsyslog reads its access log from (inside the jail in
    production, where the chrooted workers find it as /dev/log)."""
    if topo.cluster.profile == "production":
        return str(lb_jail(paths) / "dev" / "log")
    return str(paths.lb_run / "log.sock")


def lb_syslog_conf(paths: StatePaths) -> Path:
    return paths.conf_file("rsyslog-lb.conf")


def lb_log_rotate_script(paths: StatePaths) -> Path:
    return paths.conf_file("rotate-log.sh")


def _networks(cidrs: list[str]) -> str:
    return " ".join(str(ipaddress.ip_network(c, strict=False)) for c in cidrs)


def dbproxy_admin_sock(paths: StatePaths) -> str:
    """Runtime API socket of the dbproxy (kept apart from the site LB's)."""
    return str(paths.dbproxy_run / "api.sock")


def url_acl(regexes: tuple[str, ...]) -> str:
    """An ACL's criterion matching any of a project's path regexes (never matching when there are none).

    HAProxy's parser takes a backslash as an escape and ``#`` as a comment: both are escaped, so the regex
    HAProxy compiles is the one the project wrote (the model refuses spaces, quotes and braces)."""
    if not regexes:
        return "always_false"
    return "path -m reg " + " ".join(r.replace("\\", "\\\\").replace("#", "\\#") for r in regexes)


def render_lb(
    topo: Topology,
    paths: StatePaths,
    secrets: Secrets,
    user: str = "haproxy",
    urls: UrlClasses | None = None,
) -> str:
    """``haproxy-lb.cfg``: HTTP(S) load balancer in front of every web node (run as ``user``); ``urls``: the
    project's URL classes (logins, checkout, waiting room) the LB prioritises (None: Django's login forms)."""
    lb = topo.one("lb")
    servers = [web_server(w, lb.opt("server_pipeline")) for w in topo.by_role("web")]
    queue_servers = [web_server(q, lb.opt("server_pipeline")) for q in topo.by_role("queue")]
    harakiri = max(w.opt("harakiri_s") for w in (*topo.by_role("web"), *topo.by_role("queue")))
    acme = lb.opt("acme_challenge_to")
    return render(
        "haproxy/lb.cfg.j2",
        cluster=topo.cluster.name,
        lb=lb,
        production=topo.cluster.profile == "production",
        backend=LB_BACKEND,
        panic_backend=PANIC_BACKEND,
        servers=servers,
        queue_backend=QUEUE_BACKEND,
        queue_servers=queue_servers,
        busy_page=BUSY_PAGE,
        default_server=DEFAULT_SERVER,
        admin_sock=str(paths.haproxy_admin_sock),
        state_file=str(paths.haproxy_server_state),
        log_socket=lb_log_socket(topo, paths),
        user=user,
        jail=str(lb_jail(paths)),
        rsyslogd=RSYSLOGD,
        syslog_conf=lb_syslog_conf(paths),
        timeout_server_s=harakiri + SERVER_TIMEOUT_MARGIN_S,
        harakiri_s=harakiri,
        # Old workers of a reload finish their requests, but never for longer than this.
        hard_stop_after_s=harakiri + SERVER_TIMEOUT_MARGIN_S + lb.opt("timeout_queue_s"),
        cert=str(cert_file(paths, lb)),
        tls12_ciphers=TLS12_CIPHERS,
        tls13_ciphersuites=TLS13_CIPHERSUITES,
        max_body_bytes=lb.opt("max_body_mb") * 1024 * 1024,
        exempt=_networks(lb.opt("limits_exempt")),
        internal_paths="|".join(INTERNAL_PATHS),
        debug_headers=DEBUG_HEADERS,
        stats_user=STATS_USER,
        stats_password=secrets.lb_stats_password,
        acme_challenge_to=acme,
        urls=urls or UrlClasses(),
        url_acl=url_acl,
    )


def render_lb_syslog(topo: Topology, paths: StatePaths) -> str:
    """``rsyslog-lb.conf``: the site LB's access log, from its datagram socket to the node's log file."""
    lb = topo.one("lb")
    return render(
        "haproxy/rsyslog-lb.conf.j2",
        lb=lb,
        socket=lb_log_socket(topo, paths),
        work_dir=str(paths.data(lb.name)),
        log_file=str(paths.log_file(lb.name)),
        max_bytes=LOG_MAX_BYTES,
        rotate_script=lb_log_rotate_script(paths),
    )


def render_log_rotate_script() -> str:
    """``rotate-log.sh FILE``: what rsyslog runs when FILE reaches its size limit (one old copy kept)."""
    return (
        "#!/bin/sh\n"
        "# Run by rsyslog (outchannel action) when a log file reaches its size limit: keep one old copy.\n"
        "# rsyslog reopens FILE on its next write.\n"
        'exec mv -f "$1" "$1.1"\n'
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
        check_ca=str(paths.ca_cert) if internal_tls(topo) else "",
        # The stats listener and the runtime API need a few connections beyond the proxy's own.
        global_maxconn=proxy.opt("maxconn") + 50,
    )
