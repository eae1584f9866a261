"""The HAProxy renderers (site load balancer and dbproxy), pinned for a small hand-made topology."""

from __future__ import annotations

from pathlib import Path

from deploy.model.paths import StatePaths
from deploy.model.topology import Topology
from deploy.render.haproxy import LB_BACKEND, dbproxy_admin_sock, render_dbproxy, render_lb
from deploy.roles import loads
from tests.unit.fixtures import VARIED_TOPOLOGY

# Two web nodes that differ in every setting the LB reads; two DB nodes on distinct ports.
TOPOLOGY = VARIED_TOPOLOGY

PATHS = StatePaths(root=Path("/state"), repo=Path("/repo"))


def topo(text: str = TOPOLOGY) -> Topology:
    return loads(text, "unit.toml")


def server_lines(config: str) -> list[str]:
    return [line.strip() for line in config.splitlines() if line.strip().startswith("server ")]


def test_lb_config_is_pinned() -> None:
    assert render_lb(topo(), PATHS) == EXPECTED_LB


def test_web_maxconn_is_processes_times_threads() -> None:
    lines = server_lines(render_lb(topo(), PATHS))
    assert lines == [
        "server web1 10.0.1.1:8000 maxconn 8 weight 50",
        "server web2 10.0.1.2:8001 maxconn 1 weight 100",
    ]


def test_one_server_per_web_node_in_topology_order() -> None:
    text = TOPOLOGY.replace("[web.web2]", '[web.web3]\naddress = "10.0.1.3"\nthreads = 3\n\n[web.web2]')
    names = [line.split()[1] for line in server_lines(render_lb(topo(text), PATHS))]
    assert names == ["web1", "web3", "web2"]
    assert "server web3 10.0.1.3:8000 maxconn 3 weight 100" in server_lines(render_lb(topo(text), PATHS))


def test_timeout_server_outlasts_the_longest_harakiri() -> None:
    config = render_lb(topo(), PATHS)
    assert "    timeout server 45s\n" in config  # web2 harakiri 40s + 5s
    shorter = TOPOLOGY.replace("harakiri_s = 40", "harakiri_s = 10")
    assert "    timeout server 25s\n" in render_lb(topo(shorter), PATHS)  # web1's 20s now longest


def test_queue_timeout_comes_from_the_lb_node() -> None:
    config = render_lb(topo(), PATHS)
    backend = config.split(f"\nbackend {LB_BACKEND}\n")[1]
    assert "    timeout queue 7s\n" in backend


def test_only_get_and_head_are_replayed() -> None:
    backend = render_lb(topo(), PATHS).split(f"\nbackend {LB_BACKEND}\n")[1]
    assert "    retry-on conn-failure empty-response response-timeout 503\n" in backend
    # METH_GET is HAProxy's predefined ACL for GET and HEAD: every other method is sent once.
    assert "    http-request disable-l7-retry if !METH_GET\n" in backend


def test_web_sessions_survive_a_node_marked_down() -> None:
    backend = render_lb(topo(), PATHS).split(f"\nbackend {LB_BACKEND}\n")[1].split("listen stats")[0]
    directives = [line for line in backend.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in directives if "on-marked-down" in line]
    assert "option http-server-close" in backend


def test_health_check_is_http11_with_an_allowed_host() -> None:
    config = render_lb(topo(), PATHS)
    assert "http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host 10.0.0.1\n" in config


def test_lb_runtime_api_and_state_file_come_from_state_paths() -> None:
    config = render_lb(topo(), StatePaths(root=Path("/elsewhere")))
    assert "stats socket /elsewhere/run/haproxy-lb.sock mode 600 level admin expose-fd listeners" in config
    assert "server-state-file /elsewhere/run/haproxy-lb.state\n" in config
    assert "load-server-state-from-file global\n" in config


def test_dbproxy_config_is_pinned() -> None:
    assert render_dbproxy(topo(), PATHS) == EXPECTED_DBPROXY


def test_dbproxy_checks_each_db_nodes_patroni_port() -> None:
    assert server_lines(render_dbproxy(topo(), PATHS)) == [
        "server db1 10.0.2.1:5432 check port 8008",
        "server db2 10.0.2.2:5433 check port 8009",
    ]


def test_dbproxy_has_its_own_runtime_socket() -> None:
    assert dbproxy_admin_sock(PATHS) == "/state/run/haproxy-dbproxy.sock"
    assert dbproxy_admin_sock(PATHS) != str(PATHS.haproxy_admin_sock)
    assert f"stats socket {dbproxy_admin_sock(PATHS)} " in render_dbproxy(topo(), PATHS)


EXPECTED_LB = r"""# Site load balancer (front) of cluster unit: rendered by deploy/render/haproxy.py, do not edit.
# Run as `haproxy -W -db -f <this file>`; reload = SIGUSR2 to the master.

global
    # Runtime API: drain/maint web nodes, `show stat`; expose-fd lets a reload take over the listeners.
    stats socket /state/run/haproxy-lb.sock mode 600 level admin expose-fd listeners
    # Saved by the orchestrator (`show servers state`) before a reload, read back by the new workers.
    server-state-file /state/run/haproxy-lb.state
    # -db keeps HAProxy in the foreground: logs go to stdout, captured by the process manager.
    log stdout format raw local0
    maxconn 600
    # Workers left over by a reload finish in-flight requests, but not forever.
    hard-stop-after 52s

defaults
    mode http
    log global
    option dontlognull
    # The default HTTP log line plus the request id, to join with the app's JSON logs.
    log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %{+Q}r id=%ID"
    # Keep drain/maint states and weights across reloads.
    load-server-state-from-file global
    # Same-host or same-LAN connects are instant: a dead node must fail fast so the retry happens soon.
    timeout connect 2s
    # A client idle this long mid-request or mid-response is gone.
    timeout client 30s
    # Whole request headers within 10s (slowloris guard).
    timeout http-request 10s
    # Idle client keep-alive between requests.
    timeout http-keep-alive 5s
    # uWSGI harakiri (40s) kills a stuck worker first; this only catches a hung node.
    timeout server 45s
    # /readyz probes the DB, cache and S3; slower than this counts as a failed check.
    timeout check 3s

frontend site
    bind 10.0.0.1:80
    maxconn 500
    # Tell Django the client address.
    option forwardfor
    # Keep a well-formed incoming X-Request-ID (a trusted caller's trace), otherwise make a UUID.
    http-request set-var(txn.request_id) req.hdr(X-Request-ID) if { req.hdr(X-Request-ID) -m reg ^[A-Za-z0-9._:-]{1,128}$ }
    http-request set-var(txn.request_id) uuid(4) unless { var(txn.request_id) -m found }
    unique-id-format %[var(txn.request_id)]
    # unique-id-header adds a header: drop the client's copy first so the app sees exactly one.
    http-request del-header X-Request-ID
    unique-id-header X-Request-ID
    # Every response carries the id, HAProxy's own 503/504 pages included.
    http-after-response set-header X-Request-ID %[unique-id]
    default_backend web

backend web
    # leastconn: request costs differ (DB writes vs cached pages), so send each one to the node with
    # the fewest in flight; ties go round-robin, and it honours slowstart.
    balance leastconn
    # Queued requests wait this long for a free worker before HAProxy answers 503.
    timeout queue 7s
    # uWSGI's http-socket closes after each response without saying so: one request per server
    # connection, or HAProxy reuses dead connections (~13% errors, field notes).
    option http-server-close
    # Django answers 400 to HTTP/1.0 without Host: send a real HTTP/1.1 request to /readyz.
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host 10.0.0.1
    http-check expect status 200
    # Up to 3 more attempts, each on another node (redispatch every retry).
    retries 3
    option redispatch 1
    # Replaying is safe only for GET/HEAD (METH_GET): a POST that reached a node may have been applied.
    # Connection failures (request never sent) are still retried for every method.
    retry-on conn-failure empty-response response-timeout 503
    http-request disable-l7-retry if !METH_GET
    # Out after 2 failed checks 1s apart; back after 2 good ones, ramping its share over 10s.
    # No on-marked-down shutdown-sessions: in-flight requests on a node being stopped finish.
    # A refused connection (node killed) marks the node down at once instead of after 2 checks:
    # otherwise retries keep landing on it while the live nodes are at maxconn.
    # `scale` adds servers at runtime with the same arguments (`add server`: dynamic servers ignore
    # default-server, so deploy/render/haproxy.py spells them out for both).
    default-server check inter 1s fall 2 rise 2 slowstart 10s observe layer4 error-limit 2 on-error mark-down
    server web1 10.0.1.1:8000 maxconn 8 weight 50
    server web2 10.0.1.2:8001 maxconn 1 weight 100

listen stats
    bind 10.0.0.1:8404
    mode http
    # Browsers polling the page every 5s would flood the log.
    http-request set-log-level silent
    stats enable
    stats uri /
    stats refresh 5s
    stats show-legends
"""

EXPECTED_DBPROXY = r"""# PostgreSQL primary endpoint (pgproxy) of cluster unit: rendered by deploy/render/haproxy.py, do not edit.
# Forwards TCP to whichever DB node Patroni's REST API says is the leader (GET /primary -> 200).

global
    # Runtime API of this proxy (separate from the site LB's).
    stats socket /state/run/haproxy-dbproxy.sock mode 600 level admin expose-fd listeners
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
