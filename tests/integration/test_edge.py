"""The edge tier against the real cluster: TLS and HTTP/2, admission limits, internal endpoints, panic mode.

Per-client limits are proven from loopback sources of their own (the topologies exempt 127.0.0.1,
where every other test and `make bench` come from).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import ssl
import threading
import time
import uuid

import pytest
import requests

from deploy.clients.haproxy import RuntimeAPI
from deploy.commands.context import Cluster
from deploy.render.haproxy import LB_BACKEND, STATS_USER
from tests.integration.helpers import wait_until

pytestmark = pytest.mark.integration

# Client addresses of the limit tests: never exempt, and distinct from each other.
CLIENT_A = "127.0.251.1"
CLIENT_B = "127.0.251.2"


def http_url(cluster: Cluster, path: str) -> str:
    lb = cluster.topo.one("lb")
    return f"http://{lb.address}:{lb.port}{path}"


def https_url(cluster: Cluster, path: str) -> str:
    lb = cluster.topo.one("lb")
    return f"https://{lb.address}:{lb.opt('https_port')}{path}"


def tls_handshake(cluster: Cluster, address: str, port: int) -> tuple[str | None, str]:
    """(ALPN protocol, TLS version) of a handshake verified against the cluster's CA and ``address``."""
    context = ssl.create_default_context(cafile=str(cluster.paths.ca_cert))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection((address, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=address) as tls,
    ):
        return tls.selected_alpn_protocol(), tls.version() or ""


def test_site_answers_https_with_http2_verified_against_the_local_ca(cluster: Cluster) -> None:
    lb = cluster.topo.one("lb")
    alpn, version = tls_handshake(cluster, lb.address, lb.opt("https_port"))
    assert alpn == "h2"
    assert version in ("TLSv1.2", "TLSv1.3")
    r = requests.get(https_url(cluster, "/api/events"), verify=str(cluster.paths.ca_cert), timeout=10)
    assert r.status_code == 200
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    # Django sees the request as HTTPS (the LB's X-Forwarded-Proto).
    assert r.headers["X-Scheme"] == "https"


def test_an_untrusted_client_cannot_complete_the_handshake(cluster: Cluster) -> None:
    lb = cluster.topo.one("lb")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(https_url(cluster, "/healthz"), verify=True, timeout=10)
    assert lb.address  # the system store does not know the cluster's CA


def test_media_host_answers_https_with_http2(cluster: Cluster) -> None:
    media = cluster.topo.one("media")
    alpn, _ = tls_handshake(cluster, media.address, media.opt("https_port"))
    assert alpn == "h2"
    r = requests.get(
        f"https://{media.address}:{media.opt('https_port')}/healthz",
        verify=str(cluster.paths.ca_cert),
        timeout=10,
    )
    assert r.status_code == 200
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


def test_a_client_sent_x_forwarded_proto_is_ignored(cluster: Cluster) -> None:
    plain = requests.get(http_url(cluster, "/healthz"), headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert plain.status_code == 200
    assert plain.headers["X-Scheme"] == "http"
    assert "Strict-Transport-Security" not in plain.headers
    secure = requests.get(
        https_url(cluster, "/healthz"),
        headers={"X-Forwarded-Proto": "http"},
        verify=str(cluster.paths.ca_cert),
        timeout=10,
    )
    assert secure.headers["X-Scheme"] == "https"


def _trickle(cluster: Cluster, answers: list[bytes], deadline: float) -> None:
    """A POST announcing a 1 MB body, sent 10 bytes at a time until the LB answers (or ``deadline``)."""
    lb = cluster.topo.one("lb")
    head = (
        f"POST /api/login HTTP/1.1\r\nHost: {lb.address}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection((lb.address, lb.port), timeout=30) as sock:
        sock.sendall(head.encode())
        sock.settimeout(0.2)
        answer = b""
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
                continue
            except TimeoutError:
                pass
            try:
                sock.sendall(b"x" * 10)
            except OSError:
                break
        answers.append(answer)


def _timed_get(url: str) -> float:
    began = time.monotonic()
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    return time.monotonic() - began


def test_trickled_bodies_do_not_delay_a_normal_request(cluster: Cluster) -> None:
    """Four slow uploads wait at the LB, not in uWSGI workers, and are cut off by its request timeout."""
    url = http_url(cluster, "/api/events")
    baseline = max(_timed_get(url) for _ in range(5))
    timeout_s = cluster.topo.one("lb").opt("request_timeout_s")
    deadline = time.monotonic() + timeout_s + 10
    answers: list[bytes] = []
    trickles = [threading.Thread(target=_trickle, args=(cluster, answers, deadline)) for _ in range(4)]
    for t in trickles:
        t.start()
    during = []
    while any(t.is_alive() for t in trickles) and time.monotonic() < deadline:
        during.append(_timed_get(url))
        time.sleep(0.25)
    for t in trickles:
        t.join(15)
    assert len(during) >= 10
    assert max(during) < baseline + 1.0, (baseline, during)
    # Each slow body was refused by the LB's request timeout, never handed to a web node.
    assert len(answers) == 4
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers


def _status_of_oversized_post(cluster: Cluster, size: int) -> tuple[int, str]:
    """Announce ``size`` bytes, send the first 64 KiB, read what the LB answers."""
    lb = cluster.topo.one("lb")
    with socket.create_connection((lb.address, lb.port), timeout=15) as sock:
        head = (
            f"POST /api/login HTTP/1.1\r\nHost: {lb.address}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n"
        )
        sock.sendall(head.encode())
        # Refused mid-body: the answer is still there to read.
        with contextlib.suppress(OSError):
            sock.sendall(b"x" * 65536)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    head_text = answer.split(b"\r\n\r\n")[0].decode(errors="replace")
    return int(head_text.split()[1]), head_text


def test_a_20mb_body_gets_413_from_the_lb(cluster: Cluster) -> None:
    status, head = _status_of_oversized_post(cluster, 20 * 1024 * 1024)
    assert status == 413, head
    # Answered by HAProxy: no web node put its name on it.
    assert "x-served-by" not in head.lower()


def test_a_body_of_unannounced_length_gets_411(cluster: Cluster) -> None:
    lb = cluster.topo.one("lb")
    with socket.create_connection((lb.address, lb.port), timeout=15) as sock:
        sock.sendall(
            f"POST /api/login HTTP/1.1\r\nHost: {lb.address}\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n0\r\n\r\n".encode()
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 411")


def _get_from(source: str, host: str, port: int, path: str) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection(host, port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


def test_a_client_over_the_rate_limit_gets_429_while_another_is_served(cluster: Cluster) -> None:
    lb = cluster.topo.one("lb")
    limit = lb.opt("client_max_requests_per_10s")
    # One keep-alive connection; /readyz is refused by the LB itself (403), so the flood is cheap and
    # every request still counts against the client's rate.
    conn = http.client.HTTPConnection(lb.address, lb.port, timeout=10, source_address=(CLIENT_A, 0))
    statuses: list[int] = []
    try:
        for _ in range(limit + 20):
            conn.request("GET", "/readyz")
            r = conn.getresponse()
            r.read()
            statuses.append(r.status)
            if r.status == 429:
                assert r.getheader("Retry-After")
                break
    finally:
        conn.close()
    assert statuses[-1] == 429, f"no 429 after {len(statuses)} requests"
    assert len(statuses) > limit // 2  # not refused from the start
    status, _ = _get_from(CLIENT_A, lb.address, lb.port, "/healthz")
    assert status == 429
    status, headers = _get_from(CLIENT_B, lb.address, lb.port, "/healthz")
    assert status == 200 and headers.get("x-served-by")


def test_a_client_over_the_connection_limit_gets_429(cluster: Cluster) -> None:
    lb = cluster.topo.one("lb")
    limit = lb.opt("client_max_connections")
    held = []
    try:
        for _ in range(limit):
            held.append(
                socket.create_connection((lb.address, lb.port), timeout=10, source_address=("127.0.251.3", 0))
            )
        # HAProxy counts a connection when it accepts it: let it catch up with the kernel's backlog.
        time.sleep(0.5)
        status, _ = _get_from("127.0.251.3", lb.address, lb.port, "/healthz")
        assert status == 429
        status, _ = _get_from(CLIENT_B, lb.address, lb.port, "/healthz")
        assert status == 200
    finally:
        for s in held:
            s.close()


def test_readyz_through_the_lb_is_refused_while_nodes_stay_up(cluster: Cluster) -> None:
    for path in ("/readyz", "/readyz/", "/%72eadyz", "//readyz", "/readyz?x=1", "/metrics"):
        assert requests.get(http_url(cluster, path), timeout=10).status_code == 403, path
    r = requests.get(https_url(cluster, "/readyz"), verify=str(cluster.paths.ca_cert), timeout=10)
    assert r.status_code == 403
    time.sleep(2.5)  # two check intervals
    servers = RuntimeAPI(cluster.paths.haproxy_admin_sock).servers(LB_BACKEND)
    assert {n.name for n in cluster.topo.by_role("web")} <= set(servers)
    assert all(servers[n.name].status == "UP" for n in cluster.topo.by_role("web")), servers


def test_stats_page_needs_the_password(cluster: Cluster) -> None:
    lb = cluster.topo.one("lb")
    url = f"http://{lb.address}:{lb.opt('stats_port')}/"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, auth=(STATS_USER, "wrong"), timeout=10).status_code == 401
    ok = requests.get(url, auth=(STATS_USER, cluster.secrets.lb_stats_password), timeout=10)
    assert ok.status_code == 200 and "web1" in ok.text


def test_lb_access_log_reaches_the_node_log_file(cluster: Cluster) -> None:
    rid = f"edge-log-{uuid.uuid4().hex}"
    requests.get(http_url(cluster, "/healthz"), headers={"X-Request-ID": rid}, timeout=10)
    log = cluster.paths.log_file(cluster.topo.one("lb").name)
    wait_until(
        lambda: log.exists() and rid in log.read_text(errors="replace"), "the LB's access log line", 10
    )


def _check_worker_pid(cluster: Cluster, node_name: str) -> int:
    """The pid of a web node's check worker (the last uWSGI worker), from its stats socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(cluster.paths.uwsgi_stats_sock(node_name)))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    workers = json.loads(data)["workers"]
    check_id = cluster.topo.node(node_name).opt("processes") + 1
    return next(w["pid"] for w in workers if w["id"] == check_id)


def test_fifty_logins_straight_at_the_web_nodes_do_not_fail_their_checks(cluster: Cluster) -> None:
    """PBKDF2 logins keep every site worker busy for seconds; the check worker still answers in time."""
    api = RuntimeAPI(cluster.paths.haproxy_admin_sock)
    webs = cluster.topo.by_role("web")
    downs: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            downs.extend(n.name for n in webs if not api.server(LB_BACKEND, n.name).status.startswith("UP"))

    def login(i: int) -> None:
        node = webs[i % len(webs)]
        requests.post(
            f"http://{node.address}:{node.port}/api/login",
            json={"username": "demo", "password": "demo"},
            timeout=120,
        )

    watcher = threading.Thread(target=watch)
    watcher.start()
    logins = [threading.Thread(target=login, args=(i,)) for i in range(50)]
    try:
        for t in logins:
            t.start()
        for t in logins:
            t.join(180)
    finally:
        done.set()
        watcher.join()
    assert not downs, f"HAProxy marked {sorted(set(downs))} down during the logins"


@pytest.mark.chaos
def test_with_every_check_failing_requests_are_still_answered(cluster: Cluster) -> None:
    api = RuntimeAPI(cluster.paths.haproxy_admin_sock)
    webs = [n.name for n in cluster.topo.by_role("web")]
    pids = [_check_worker_pid(cluster, name) for name in webs]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)  # the check socket stops answering; the site workers do not
    try:
        wait_until(
            lambda: all(not api.server(LB_BACKEND, n).status.startswith("UP") for n in webs),
            "every web node DOWN in HAProxy",
            30,
            0.2,
        )
        served = []
        with requests.Session() as s:
            for _ in range(20):
                r = s.get(http_url(cluster, "/api/events"), timeout=10)
                assert r.status_code == 200, r.text
                served.append(r.headers["X-Served-By"])
        assert set(served) == set(webs)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    wait_until(
        lambda: all(api.server(LB_BACKEND, n).status == "UP" for n in webs), "web nodes UP again", 30, 0.2
    )
