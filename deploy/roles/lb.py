"""lb: the site's HTTP(S) load balancer (HAProxy) in front of every web node."""

from __future__ import annotations

import contextlib
import ipaddress

from ..clients.haproxy import SHOW_SERVERS_STATE, RuntimeAPI
from ..model.app import UrlClasses
from ..model.defaults import HAPROXY, RSYSLOGD
from ..model.paths import StatePaths
from ..model.topology import HOST_RE, PORT, POSITIVE, REQUIRED, Node, RoleSchema, TopologyError
from ..model.units import ConfigFile, Dir, Program
from ..render.haproxy import (
    lb_jail,
    lb_log_rotate_script,
    lb_syslog_conf,
    render_lb,
    render_lb_syslog,
    render_log_rotate_script,
)
from .base import TLS_KEYS, Placement, RenderContext, Role, Tls
from .checks import http

USER = "haproxy"


def _validate(source: str, nodes: tuple[Node, ...]) -> None:
    for n in nodes:
        host = n.opt("public_host")
        if host and not HOST_RE.match(host):
            raise TopologyError(
                f"{source}: [lb.{n.name}] public_host: {host!r} is not a host name "
                '(write it without scheme or port, e.g. "shop.example.com")'
            )
        for key, cidr in [(k, c) for k in ("limits_exempt", "admin_networks") for c in n.opt(k)]:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except (TypeError, ValueError):
                raise TopologyError(
                    f"{source}: [lb.{n.name}] {key}: {cidr!r} is not an address or network "
                    '(e.g. "127.0.0.1/32" or "10.0.0.0/8")'
                ) from None
        target = n.opt("acme_challenge_to")
        if target and not target.rpartition(":")[2].isdigit():
            raise TopologyError(
                f"{source}: [lb.{n.name}] acme_challenge_to: {target!r} must be address:port "
                '(where the ACME client answers HTTP-01 challenges, e.g. "127.0.0.1:8402")'
            )


def config_path(paths: StatePaths, node: Node):
    return paths.conf_file(f"haproxy-{node.name}.cfg")


def app_urls(ctx: RenderContext) -> UrlClasses:
    """The URL classes of the project the live release runs (Django's login forms before the first)."""
    return ctx.worker_release.spec.urls if ctx.worker_release else UrlClasses()


def _files(ctx: RenderContext, node: Node) -> list[ConfigFile]:
    paths = ctx.paths
    return [
        # 0600: it holds the stats page's password.
        ConfigFile(
            config_path(paths, node),
            render_lb(ctx.topo, paths, ctx.secrets, USER, app_urls(ctx)),
            0o600,
            USER,
            node.name,
        ),
        ConfigFile(lb_syslog_conf(paths), render_lb_syslog(ctx.topo, paths), program=node.name),
        ConfigFile(lb_log_rotate_script(paths), render_log_rotate_script(), 0o755),
    ]


def _dirs(paths: StatePaths, node: Node) -> list[Dir]:
    jail = lb_jail(paths)
    return [
        # rsyslog's work directory; the runtime API and log sockets.
        Dir(paths.data(node.name), 0o700, USER),
        Dir(paths.lb_run, 0o750, USER),
        # Production: the workers' chroot (root's, empty), where only the log socket appears (/dev/log).
        Dir(jail, 0o755),
        Dir(jail / "dev", 0o755, USER),
    ]


def _program(ctx: RenderContext, node: Node) -> Program:
    # -W master-worker (reload = SIGUSR2 to the master), -db stays in the foreground. SIGUSR1: soft stop.
    cfg = str(config_path(ctx.paths, node))
    return Program(
        name=node.name,
        role="lb",
        argv=(HAPROXY, "-W", "-db", "-f", cfg),
        stopsignal="USR1",
        # The access log is written by the master's rsyslog (render_lb_syslog); what the process manager
        # captures is start-up output and HAProxy's own alerts.
        stdout_logfile=str(ctx.paths.log / f"{node.name}.boot.log"),
    )


def save_server_state(paths: StatePaths) -> None:
    """Save HAProxy's server states (drain/maint/weights) so the reloaded workers keep them."""
    with contextlib.suppress(OSError):
        paths.haproxy_server_state.write_text(
            RuntimeAPI(paths.haproxy_admin_sock).command(SHOW_SERVERS_STATE)
        )


_healthz, _status = http("/healthz")


ROLE = Role(
    name="lb",
    summary="HAProxy: the site's entry point; TLS, admission limits, health checks, drain, queueing",
    schema=RoleSchema(
        keys={
            "address": (str, REQUIRED),
            # Plain HTTP: answered in the local profile (scripts), redirected to HTTPS in production.
            "port": (PORT, 8080),
            **TLS_KEYS,
            "stats_port": (PORT, 8404),
            "maxconn": (POSITIVE, 4096),
            "timeout_queue_s": (POSITIVE, 10),
            # Requests already waiting for a web (or queue) worker past which new ones get the busy 503 at
            # once, and the Retry-After every busy 503 carries (docs/OPERATIONS.md "Admission limits").
            "max_queued": (POSITIVE, 200),
            "retry_after_s": (POSITIVE, 5),
            # HAProxy threads; 1 leaves the other cores to the web nodes on a shared box.
            "threads": (POSITIVE, 1),
            # Connections per web node beyond its workers: they wait in its listen backlog, so a worker
            # never idles while HAProxy hands it the next request.
            "server_pipeline": (POSITIVE, 1),
            # The name clients use for the site (production: a DNS name in front of the LB); "" = its address.
            "public_host": (str, ""),
            # Where the operator's ACME client answers HTTP-01 challenges ("address:port"); "" = none.
            "acme_challenge_to": (str, ""),
            # Admission limits (docs/OPERATIONS.md "Admission limits"): whole request headers and the
            # body's first buffer within this time; bodies above max_body_mb refused with 413;
            # per client address, concurrent connections and requests per 10 s above these get 429.
            "request_timeout_s": (POSITIVE, 10),
            "max_body_mb": (POSITIVE, 10),
            "client_max_connections": (POSITIVE, 100),
            "client_max_requests_per_10s": (POSITIVE, 500),
            # Sources never counted against those limits (load generators, monitoring).
            "limits_exempt": (list, []),
            # Client networks that may reach Django's /admin/ (ADMIN_ALLOWED_NETWORKS of the web nodes);
            # empty: loopback in the local profile, nobody in production.
            "admin_networks": (list, []),
        },
        count=(1, 1),
        validate=_validate,
    ),
    priority=80,
    program=_program,
    status=_status,
    terraform=Placement(host_group="lb", public=True, debian_units=("haproxy", "rsyslog")),
    ingress=(),  # from the internet only (Placement.public)
    packages=("haproxy", "rsyslog"),
    binaries=(HAPROXY, RSYSLOGD),
    # Master, workers and the access-log rsyslog run as HAProxy's account (Debian's package brings it). In
    # production the unit lends it the right to bind 80/443 and to chroot its workers, nothing more.
    user=USER,
    capabilities=("CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT"),
    tls=Tls(public_name=lambda node: node.opt("public_host")),
    secrets=frozenset({"lb_stats_password"}),
    files=_files,
    dirs=_dirs,
    ready=_healthz,
    # Master-worker reload: new workers take the config, old ones finish their connections.
    reload="USR2",
    before_reload=save_server_state,
    # The project's URL classes (login, checkout, waiting room) come from the live release's tiers.toml.
    reads_app=True,
)
