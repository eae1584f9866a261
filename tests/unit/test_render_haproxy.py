"""The HAProxy renderers (site load balancer and dbproxy), pinned for a small hand-made topology."""

from __future__ import annotations

from pathlib import Path

from deploy.model.app import UrlClasses, load
from deploy.model.paths import DEFAULT_APP, StatePaths
from deploy.model.topology import Topology
from deploy.render.haproxy import (
    LB_BACKEND,
    dbproxy_admin_sock,
    render_dbproxy,
    render_lb,
    render_lb_syslog,
    url_acl,
)
from deploy.roles import loads
from deploy.roles.base import RenderContext
from deploy.roles.lb import app_urls
from tests.unit.fixtures import SECRETS, VARIED_TOPOLOGY, app_spec, fake_release
from tests.unit.golden import assert_golden

# Two web nodes that differ in every setting the LB reads; two DB nodes on distinct ports.
TOPOLOGY = VARIED_TOPOLOGY

PATHS = StatePaths(root=Path("/state"), repo=Path("/repo"))


def topo(text: str = TOPOLOGY) -> Topology:
    return loads(text, "unit.toml")


def server_lines(config: str) -> list[str]:
    return [line.strip() for line in config.splitlines() if line.strip().startswith("server ")]


def test_lb_config_is_pinned() -> None:
    # The URL classes of the bundled example (examples/boxoffice/tiers.toml), as its live release gives them.
    urls = load(DEFAULT_APP).urls
    assert_golden("haproxy-lb.cfg", render_lb(topo(), PATHS, SECRETS, "haproxy", urls))


def acls(config: str) -> dict[str, str]:
    lines = (line.split(None, 2)[1:] for line in config.splitlines() if line.lstrip().startswith("acl "))
    return {name: rest for name, rest in lines if name in ("login", "checkout", "waiting_room")}


def test_url_classes_default_to_djangos_login_forms() -> None:
    """Before the first release (no project yet): Django's login URLs wait last; nothing is checkout or the
    waiting room (an ACL that never matches)."""
    assert acls(render_lb(topo(), PATHS, SECRETS)) == {
        "waiting_room": "always_false",
        "checkout": "always_false",
        "login": "path -m reg ^/accounts/login/$ ^/admin/login/$",
    }


def test_url_classes_come_from_the_live_releases_project() -> None:
    spec = app_spec(urls=UrlClasses(login=(r"^/signin/$",), checkout=(r"^/cart/pay$", r"^/api/pay$")))
    ctx = RenderContext(topo(), PATHS, SECRETS, worker_release=fake_release(spec=spec))
    assert app_urls(ctx) == spec.urls
    assert app_urls(RenderContext(topo(), PATHS, SECRETS)) == UrlClasses()
    assert acls(render_lb(topo(), PATHS, SECRETS, "haproxy", app_urls(ctx))) == {
        "waiting_room": "always_false",
        "checkout": "path -m reg ^/cart/pay$ ^/api/pay$",
        "login": "path -m reg ^/signin/$",
    }


def test_url_acl_escapes_what_haproxys_parser_would_eat() -> None:
    # HAProxy's config parser unescapes \\ and reads # as a comment: HAProxy compiles the regex as written.
    assert url_acl((r"^/a\.b/\d+$", r"^/x#y$")) == r"path -m reg ^/a\\.b/\\d+$ ^/x\#y$"
    assert url_acl(()) == "always_false"


def test_lb_syslog_config_is_pinned() -> None:
    assert_golden("rsyslog-lb.conf", render_lb_syslog(topo(), PATHS))


def test_web_maxconn_is_processes_times_threads_plus_the_pipeline() -> None:
    lines = server_lines(render_lb(topo(), PATHS, SECRETS))
    # server_pipeline = 2 in this topology; checks go to each node's check_port.
    assert lines[:2] == [
        "server web1 10.0.1.1:8000 port 8001 maxconn 10 weight 50",
        "server web2 10.0.1.2:8001 port 8011 maxconn 3 weight 100",
    ]


def test_one_server_per_web_node_in_topology_order() -> None:
    text = TOPOLOGY.replace("[web.web2]", '[web.web3]\naddress = "10.0.1.3"\nthreads = 3\n\n[web.web2]')
    names = [line.split()[1] for line in server_lines(render_lb(topo(text), PATHS, SECRETS))]
    # The checked backend, then the panic backend, each in topology order (then the waiting room's
    # nodes and the ACME client).
    assert names == ["web1", "web3", "web2"] * 2 + ["queue1", "acme"]
    assert "server web3 10.0.1.3:8000 port 8001 maxconn 5 weight 100" in server_lines(
        render_lb(topo(text), PATHS, SECRETS)
    )


def test_timeout_server_outlasts_the_longest_harakiri() -> None:
    config = render_lb(topo(), PATHS, SECRETS)
    assert "    timeout server 45s\n" in config  # web2 harakiri 40s + 5s
    shorter = TOPOLOGY.replace("harakiri_s = 40", "harakiri_s = 10")
    assert "    timeout server 25s\n" in render_lb(topo(shorter), PATHS, SECRETS)  # web1's 20s now longest


def test_queue_timeout_comes_from_the_lb_node() -> None:
    config = render_lb(topo(), PATHS, SECRETS)
    backend = config.split(f"\nbackend {LB_BACKEND}\n")[1]
    assert "    timeout queue 7s\n" in backend


def test_only_get_and_head_are_replayed() -> None:
    backend = render_lb(topo(), PATHS, SECRETS).split(f"\nbackend {LB_BACKEND}\n")[1]
    assert "    retry-on conn-failure empty-response response-timeout 503\n" in backend
    # METH_GET is HAProxy's predefined ACL for GET and HEAD: every other method is sent once.
    assert "    http-request disable-l7-retry if !METH_GET\n" in backend


def test_web_sessions_survive_a_node_marked_down() -> None:
    backend = render_lb(topo(), PATHS, SECRETS).split(f"\nbackend {LB_BACKEND}\n")[1].split("listen stats")[0]
    directives = [line for line in backend.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in directives if "on-marked-down" in line]
    assert "option http-server-close" in backend


def test_health_check_is_http11_for_the_public_name_which_outlives_the_lb_host() -> None:
    config = render_lb(topo(), PATHS, SECRETS)
    assert "http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host shop.example.com\n" in config
    # A replaced LB host has a new address; the web nodes' ALLOWED_HOSTS keep the public name.
    moved = topo().nodes[0].address
    assert f"hdr Host {moved}" not in config


def test_lb_runtime_api_and_state_file_come_from_state_paths() -> None:
    config = render_lb(topo(), StatePaths(root=Path("/elsewhere")), SECRETS)
    assert (
        "stats socket /elsewhere/run/haproxy-lb/api.sock mode 600 level admin expose-fd listeners" in config
    )
    assert "server-state-file /elsewhere/run/haproxy-lb/server.state\n" in config
    assert "load-server-state-from-file global\n" in config


def test_dbproxy_config_is_pinned() -> None:
    assert render_dbproxy(topo(), PATHS) == EXPECTED_DBPROXY


def test_dbproxy_checks_each_db_nodes_patroni_port() -> None:
    assert server_lines(render_dbproxy(topo(), PATHS)) == [
        "server db1 10.0.2.1:5432 check port 8008",
        "server db2 10.0.2.2:5433 check port 8009",
    ]


def test_dbproxy_has_its_own_runtime_socket() -> None:
    assert dbproxy_admin_sock(PATHS) == "/state/run/haproxy-db/api.sock"
    assert dbproxy_admin_sock(PATHS) != str(PATHS.haproxy_admin_sock)
    assert f"stats socket {dbproxy_admin_sock(PATHS)} " in render_dbproxy(topo(), PATHS)


EXPECTED_DBPROXY = r"""# PostgreSQL primary endpoint (pgproxy) of cluster unit: rendered by deploy/render/haproxy.py, do not edit.
# Forwards TCP to whichever DB node Patroni's REST API says is the leader (GET /primary -> 200).

global
    # Runtime API of this proxy (separate from the site LB's).
    stats socket /state/run/haproxy-db/api.sock mode 600 level admin expose-fd listeners
    # -db keeps HAProxy in the foreground: logs go to stdout, captured by the process manager.
    log stdout format raw local0
    maxconn 350

defaults
    mode tcp
    log global
    option tcplog
    option dontlognull
    # Same-host or same-LAN connects are instant; fail fast towards a dead node.
    timeout connect 2s
    # Pooled DB sessions sit idle between requests for long stretches: don't cut them.
    timeout client 30m
    timeout server 30m
    # Patroni's REST API answers in milliseconds.
    timeout check 2s

listen postgres
    bind 10.0.2.10:6432
    maxconn 300
    # Health is asked of Patroni's REST port, not PostgreSQL: only the leader answers 200 on /primary.
    option httpchk
    http-check send meth GET uri /primary ver HTTP/1.1 hdr Host 10.0.2.10
    http-check expect status 200
    # Connect from dbproxy's own address (on loopback the kernel would pick 127.0.0.1): pg_stat_activity
    # then tells the pooler's primary pool (client_addr = dbproxy) from its per-node pools.
    source 10.0.2.10
    # Detect a lost leader within ~2s, and cut its sessions so clients reconnect to the new one.
    default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions
    server db1 10.0.2.1:5432 check port 8008
    server db2 10.0.2.2:5433 check port 8009

listen stats
    bind 10.0.2.10:8405
    mode http
    # Browsers polling the page every 5s would flood the log.
    http-request set-log-level silent
    # The stats page is short HTTP, unlike the DB sessions above.
    timeout client 30s
    timeout server 30s
    stats enable
    stats uri /
    stats refresh 5s
    stats show-legends
"""


def frontend(config: str) -> str:
    return config.split("\nfrontend site\n")[1].split("\nbackend ")[0]


def test_https_listener_and_forwarded_headers() -> None:
    front = frontend(render_lb(topo(), PATHS, SECRETS))
    assert "    bind 10.0.0.1:443 ssl crt /etc/tiers/tls/site.pem alpn h2,http/1.1\n" in front
    # A client's claim is dropped before HAProxy states its own.
    drop = front.index("http-request del-header X-Forwarded-Proto")
    assert drop < front.index("http-request set-header X-Forwarded-Proto https if { ssl_fc }")
    assert 'set-header Strict-Transport-Security "max-age=600" if { ssl_fc }' in front


def test_plain_http_redirects_only_in_production() -> None:
    local = frontend(render_lb(topo(), PATHS, SECRETS))
    assert "redirect scheme https" not in local
    prod = frontend(
        render_lb(
            topo(TOPOLOGY.replace('name = "unit"', 'name = "unit"\nprofile = "production"')), PATHS, SECRETS
        )
    )
    assert (
        "    http-request redirect scheme https code 301 if !{ ssl_fc } !{ path /healthz } !acme_challenge\n"
        in prod
    )
    # ACME challenges are routed before the redirect could apply.
    assert prod.index("use_backend acme") < prod.index("redirect scheme https")


def test_limits_come_from_the_topology_and_exempt_sources_are_not_tracked() -> None:
    front = frontend(render_lb(topo(), PATHS, SECRETS))
    assert "    tcp-request connection track-sc0 src unless limits_exempt\n" in front
    assert "    acl limits_exempt src 10.0.9.0/24 192.0.2.7/32\n" in front
    assert "if { sc_conn_cur(0) gt 40 }" in front
    assert "if { sc_http_req_rate(0) gt 300 }" in front
    assert (
        f"http-request deny deny_status 413 if {{ req.hdr_val(content-length) gt {25 * 1024 * 1024} }}"
        in front
    )
    assert "    timeout http-request 12s\n" in render_lb(topo(), PATHS, SECRETS)
    no_exempt = frontend(
        render_lb(
            topo(TOPOLOGY.replace('limits_exempt = ["10.0.9.0/24", "192.0.2.7"]\n', "")), PATHS, SECRETS
        )
    )
    assert "    tcp-request connection track-sc0 src\n" in no_exempt and "limits_exempt" not in no_exempt


def test_admission_rules_run_before_any_backend_is_chosen() -> None:
    front = frontend(render_lb(topo(), PATHS, SECRETS))
    first_backend = front.index("use_backend")
    for rule in ("sc_conn_cur(0)", "sc_http_req_rate(0)", "deny_status 413", "status 411", "deny_status 403"):
        assert front.index(rule) < first_backend, rule
    assert "    use_backend web_panic if { nbsrv(web) eq 0 }\n" in front


def test_stats_page_needs_the_lb_stats_password() -> None:
    config = render_lb(topo(), PATHS, SECRETS)
    assert f"    stats auth admin:{SECRETS.lb_stats_password}\n" in config


def test_bad_limits_exempt_and_acme_target_are_clear_errors() -> None:
    import pytest

    from deploy.model.topology import TopologyError

    with pytest.raises(TopologyError, match="limits_exempt: 'nope' is not an address"):
        topo(TOPOLOGY.replace('"192.0.2.7"', '"nope"'))
    with pytest.raises(TopologyError, match="acme_challenge_to: 'localhost' must be address:port"):
        topo(TOPOLOGY.replace('"127.0.0.1:8402"', '"localhost"'))
    admin = TOPOLOGY.replace(
        "limits_exempt = [", 'admin_networks = ["10.1.0.0/16", "office"]\nlimits_exempt = ['
    )
    with pytest.raises(TopologyError, match="admin_networks: 'office' is not an address"):
        topo(admin)


def test_web_nodes_are_reached_from_the_lb_s_own_address() -> None:
    """Both backends connect from the LB's address: the only one whose X-Forwarded-For Django believes."""
    lb = topo().one("lb")
    config = render_lb(topo(), PATHS, SECRETS)
    assert config.count(f"\n    source {lb.address}\n") == 2
