"""The rehearsal fleet: every node its own host (namespaces), the operator's verbs over SSH, the firewall.

Runs deploy/topologies/fleet-test.toml (namespaces tiers-fleettest-*, network 10.232.0.0/24), so it never
collides with a `make up` fleet, the loopback cluster or the test cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.commands.context import Cluster
from deploy.commands.fleet import MOUNTPOINT, ns_name
from deploy.commands.wrk import parse_wrk
from deploy.model.paths import REPO, StatePaths
from deploy.model.topology import Node
from deploy.roles import REGISTRY, load
from deploy.roles.firewall import public_ports
from tests.conftest import deploy_cli
from tests.integration.helpers import copy_source, deployed_version, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.fleet]

TOPOLOGY = REPO / "deploy" / "topologies" / "fleet-test.toml"
TOPO = load(TOPOLOGY)


def fleet_cli(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return deploy_cli(*args, check=check, timeout=timeout, topology=TOPOLOGY)


@pytest.fixture(scope="module")
def fleet() -> Iterator[Cluster]:
    try:
        out = fleet_cli("up", timeout=900)
        print(out.stdout)
        yield Cluster(TOPO, StatePaths.for_cluster(TOPO.cluster.name))
    finally:  # a failed `up` too: its hosts would outlive the run
        fleet_cli("clean", check=False, timeout=300)
    assert not [ns for ns in _namespaces() if ns.startswith("tiers-fleettest-")], "clean left namespaces"


def _namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def connects(source: str, node: Node, port: int, timeout: float = 1.5) -> bool:
    """A TCP connection from namespace ``tiers-fleettest-<source>`` to ``node``'s address and ``port``."""
    argv = ["ip", "netns", "exec", ns_name(TOPO.cluster.name, source),
            "timeout", str(timeout), "bash", "-c", f"exec 3<>/dev/tcp/{node.address}/{port}"]  # fmt: skip
    return subprocess.run(argv, capture_output=True).returncode == 0


def internet_get(node: Node, path: str) -> int:
    argv = ["ip", "netns", "exec", ns_name(TOPO.cluster.name, "internet"), "curl", "-s", "-o", "/dev/null",
            "-w", "%{http_code}", "--max-time", "5", f"http://{node.address}:{node.port}{path}"]  # fmt: skip
    return int(subprocess.run(argv, capture_output=True, text=True).stdout or 0)


def test_up_leaves_the_root_namespace_alone(fleet: Cluster) -> None:
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    assert "br0" not in links and "v0" not in links
    route = subprocess.run(
        ["ip", "netns", "exec", ns_name(TOPO.cluster.name, "web1"), "ip", "route"],
        capture_output=True,
        text=True,
    ).stdout
    assert "default" not in route, "a fleet host must have no route out"


def test_status_over_ssh_shows_every_node_healthy(fleet: Cluster) -> None:
    out = fleet_cli("status").stdout
    names = {n.name for n in TOPO}
    # One row per node (the backup and WAL-archive lines after them are not node rows).
    rows = {words[0]: line for line in out.splitlines()[2:] if (words := line.split()) and words[0] in names}
    assert set(rows) == names, out
    assert all(" running  ok" in row for row in rows.values()), out


def test_internet_reaches_only_the_lb_and_the_media_host(fleet: Cluster) -> None:
    assert internet_get(TOPO.one("lb"), "/api/events") == 200
    assert internet_get(TOPO.one("media"), "/healthz") == 200
    assert {(n.role, p) for n in TOPO for p in public_ports(n)} == {
        ("lb", 8080), ("lb", 8443), ("media", 8080), ("media", 8443),
    }  # fmt: skip
    for node in TOPO:
        for key in REGISTRY_PORTS[node.role]:
            port = node.port if key == "port" else node.opt(key)
            public = port in public_ports(node)  # lb and media: their HTTP and HTTPS ports
            assert connects("internet", node, port) == public, f"internet -> {node.name}:{port}"


REGISTRY_PORTS = {r.name: r.schema.listener_keys() for r in REGISTRY}


def test_every_security_group_row_connects(fleet: Cluster) -> None:
    checked = 0
    for role in REGISTRY:
        for flow in role.ingress:
            for target in TOPO.by_role(role.name):
                port = target.port if flow.port_key == "port" else target.opt(flow.port_key)
                for source in TOPO.by_role(flow.source):
                    if source.name != target.name:
                        assert connects(source.name, target, port), f"{source.name} -> {target.name}:{port}"
                        checked += 1
    assert checked > 30


@pytest.mark.parametrize(
    ("source", "target", "port_key"),
    [
        ("cache1", "db1", "port"),
        ("web1", "etcd", "port"),
        ("media", "db1", "port"),
        ("worker1", "lb", "stats_port"),
        ("web1", "db1", "rest_port"),
        ("lb", "cache1", "port"),
        ("ops", "db1", "port"),
        ("ops", "web1", "port"),
    ],
)
def test_denied_pairs_do_not_connect(fleet: Cluster, source: str, target: str, port_key: str) -> None:
    node = TOPO.node(target)
    port = node.port if port_key == "port" else node.opt(port_key)
    assert not connects(source, node, port), f"{source} -> {target}:{port} should be dropped"


def test_hosts_share_nothing_through_the_filesystem(fleet: Cluster) -> None:
    ssh = fleet.place.transport(TOPO.node("web1"))
    state = MOUNTPOINT / TOPO.cluster.name
    listing = ssh.run(["ls", str(state / "data"), str(state / "conf")]).stdout
    assert "db1" not in listing and "patroni" not in listing
    # The operator's var/ (every host's folder, the cluster's secrets) is an empty tmpfs there.
    assert ssh.run(["ls", "-A", str(REPO / "var")]).stdout.strip() == ""
    assert ssh.run(["test", "-e", str(state / "secrets.json")], check=False).returncode != 0
    assert ssh.run(["hostname"]).stdout.strip() == "web1"
    # /tmp is the host's own (unix sockets live there): a file made on web1 is not on this machine's.
    marker = f"/tmp/tiers-fleet-{os.getpid()}"
    ssh.run(["touch", marker])
    assert not Path(marker).exists()
    assert fleet.place.transport(TOPO.node("web2")).run(["test", "-e", marker], check=False).returncode != 0


def test_killed_web_host_is_routed_around(fleet: Cluster) -> None:
    lb = TOPO.one("lb")
    fleet_cli("kill", "web1")
    try:
        api = fleet.place.runtime_api(lb, fleet.place.host_paths(lb).haproxy_admin_sock)
        wait_until(
            lambda: not api.server("web", "web1").status.startswith("UP"), "HAProxy to mark web1 down", 10
        )
        assert all(internet_get(lb, "/healthz") == 200 for _ in range(10))
    finally:
        fleet_cli("start", "web1")
    wait_until(lambda: api.server("web", "web1").status == "UP", "web1 back UP", 30)


def test_deploy_and_rollback_over_ssh_under_load_from_the_internet(fleet: Cluster, tmp_path: Path) -> None:
    source = copy_source(tmp_path / "src", f"fleet {time.time()}")
    lb = TOPO.one("lb")
    load = subprocess.Popen(
        ["ip", "netns", "exec", ns_name(TOPO.cluster.name, "internet"), "wrk", "-t1", "-c4", "-d60s", "--latency",
         f"http://{lb.address}:{lb.port}/api/events"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        version = deployed_version(fleet_cli("deploy", "--source", str(source)).stdout)
        status = fleet_cli("status").stdout
        # Both web nodes and the queue node (which follows the live release) run it.
        assert status.count(f"release {version}") == len(TOPO.by_role("web")) + len(TOPO.by_role("queue")), (
            status
        )
        fleet_cli("rollback")
    finally:
        output, _ = load.communicate(timeout=150)
    result = parse_wrk("fleet", output)
    print(f"load during deploy + rollback: {result.requests} requests, {result.errors} failed")
    assert result.requests > 100 and result.errors == 0, output
    # Releases live only in the web, queue and worker hosts' own state folders; the LB's host holds the
    # declarations it routes by (release.json), no code.
    hosts = fleet.paths.root / "hosts"
    for node in TOPO:
        releases = hosts / node.name / TOPO.cluster.name / "releases"
        if node.role in ("web", "queue", "worker"):
            assert (releases / version / "release.json").exists(), node.name
        elif node.role == "lb":
            assert (releases / version / "release.json").exists() and not (
                releases / version / "app"
            ).exists()
        else:
            assert not releases.exists(), f"{node.name} holds releases"
    # The LB routes by the project's URL classes (the box office's checkout), after the rollback too.
    config = (hosts / "lb" / TOPO.cluster.name / "conf" / "haproxy-lb.cfg").read_text()
    assert "acl checkout path -m reg ^/(api/)?events/[0-9]+/(orders|buy)$" in config


def test_failover_over_ssh(fleet: Cluster) -> None:
    before = fleet.pg.leader()
    assert before is not None
    out = fleet_cli("failover", timeout=300).stdout
    after = fleet.pg.leader()
    assert after is not None and after.name != before.name, out
    # Writes work through dbproxy again (the command waited for it), and the old leader streams again.
    assert fleet.pg.dbproxy_reaches_primary()


def test_scale_within_the_fleets_hosts(fleet: Cluster) -> None:
    lb = TOPO.one("lb")
    fleet_cli("scale", "1")
    try:
        status = fleet_cli("status").stdout
        assert "web2" not in status and "web1" in status
        api = fleet.place.runtime_api(lb, fleet.place.host_paths(lb).haproxy_admin_sock)
        assert set(api.servers("web")) == {"web1"}
        assert all(internet_get(lb, "/healthz") == 200 for _ in range(5))
        refused = fleet_cli("scale", "3", check=False)
        assert refused.returncode != 0 and "a fleet scales within them" in refused.stderr
    finally:
        fleet_cli("scale", "2")
    assert set(api.servers("web")) == {"web1", "web2"}
    assert all(s.status == "UP" for s in api.servers("web").values())


def test_refused_key_stops_before_changing_anything(fleet: Cluster, tmp_path: Path) -> None:
    keys = fleet.paths.root / "hosts" / "web2" / "ssh" / "authorized_keys"
    original = keys.read_text()
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    keys.write_text(Path(f"{other}.pub").read_text())
    fleet.place.ssh(TOPO.node("web2")).close()  # a new connection must authenticate again
    try:
        out = fleet_cli("stop", "web2", check=False)
        assert out.returncode == 1
        assert "web2" in out.stderr and "refused the key" in out.stderr and "authorized_keys" in out.stderr
    finally:
        keys.write_text(original)
    assert "running" in fleet_cli("status").stdout.split("web2", 1)[1].splitlines()[0]


def test_unreachable_host_stops_up_before_any_install(fleet: Cluster) -> None:
    host = ns_name(TOPO.cluster.name, "worker1")
    fleet.place.ssh(TOPO.node("worker1")).close()
    subprocess.run(["ip", "-n", host, "link", "set", "eth0", "down"], check=True)
    try:
        out = fleet_cli("up", check=False, timeout=300)
        assert out.returncode == 1
        assert "worker1" in out.stderr and "unreachable" in out.stderr, out.stderr
        assert "node-install on every host" not in out.stdout
    finally:
        subprocess.run(["ip", "-n", host, "link", "set", "eth0", "up"], check=True)


def _cut_ruleset(peers: list[str]) -> str:
    """nftables for one host: drop everything to and from ``peers`` (before the host's own firewall)."""
    addresses = ", ".join(peers)
    return (
        "table inet tiers_cut {\n"
        f"  chain input {{ type filter hook input priority -10; policy accept; ip saddr {{ {addresses} }} drop; }}\n"
        f"  chain output {{ type filter hook output priority -10; policy accept; ip daddr {{ {addresses} }} drop; }}\n"
        "}\n"
    )


def _create_event(capacity: int) -> int:
    code = (
        "import datetime; from django.utils import timezone; from boxoffice.models import Event; "
        # One buyer buys throughout: the per-buyer cap is the capacity, not the default.
        f"e = Event.objects.create(title='Partition', venue='Hall', capacity={capacity}, price='10.00', "
        f"max_tickets_per_buyer={capacity}, "
        "starts_at=timezone.now() + datetime.timedelta(days=30), published=True); print(e.id)"
    )
    return int(fleet_cli("manage", "--node", "web1", "shell", "--no-imports", "-c", code).stdout.split()[-1])


def test_primary_cut_off_from_etcd_and_peers_demotes_itself_and_rejoins(fleet: Cluster) -> None:
    from deploy.roles.db import patroni_status
    from tests.integration.chaos import orders_stored

    pg, db = fleet.pg, TOPO.database
    wait_until(lambda: bool(pg.settled_sync_standbys()), "a synchronous standby", 60, 1.0)
    old = pg.leader()
    assert old is not None
    peers = [n.address for n in (*TOPO.by_role("etcd"), *TOPO.by_role("db")) if n.name != old.name]
    host = ns_name(TOPO.cluster.name, old.name)
    lb = TOPO.one("lb")
    event_id = _create_event(1_000_000)
    buyers = subprocess.Popen(
        ["ip", "netns", "exec", ns_name(TOPO.cluster.name, "internet"), str(fleet.paths.venv / "bin" / "python"),
         "-m", "tests.integration.scripts.buyers", "--base", f"http://{lb.address}:{lb.port}",
         "--event", str(event_id), "--seconds", "150"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    healed = False
    try:
        time.sleep(4)
        cut_at = time.time()
        subprocess.run(["ip", "netns", "exec", host, "nft", "-f", "-"], input=_cut_ruleset(peers), text=True,
                       check=True)  # fmt: skip

        def demoted() -> bool:
            status = patroni_status(old, fleet.place.prober(old))
            return bool(status) and status.get("role") not in ("primary", "master")

        wait_until(demoted, f"{old.name} to demote itself", db.patroni_ttl + 15, 0.5)
        demoted_at = time.time()
        wait_until(lambda: (n := pg.leader()) is not None and n.name != old.name, "a new leader", 60, 0.5)
        wait_until(pg.dbproxy_reaches_primary, "dbproxy to reach the new leader", 30, 0.5)
        new_leader_at = time.time()
        time.sleep(3)  # purchases on the new leader while the old one is still cut off
        subprocess.run(
            ["ip", "netns", "exec", host, "nft", "delete", "table", "inet", "tiers_cut"], check=True
        )
        healed = True
        healed_at = time.time()
        wait_until(lambda: old.name in pg.streaming_replicas(), f"{old.name} streaming again", 120, 1.0)
        rejoined_at = time.time()
        time.sleep(2)
    finally:
        if not healed:
            subprocess.run(["ip", "netns", "exec", host, "nft", "delete", "table", "inet", "tiers_cut"])
        buyers.terminate()
        output, _ = buyers.communicate(timeout=30)
    attempts = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    buys = [a for a in attempts if a["op"] == "buy"]
    reads = [a for a in attempts if a["op"] == "read"]
    acknowledged = [a["id"] for a in buys if a["status"] == 201]
    print(
        f"cut -> {old.name} demoted {demoted_at - cut_at:.1f} s, new leader writable {new_leader_at - cut_at:.1f} s, "
        f"healed -> streaming again {rejoined_at - healed_at:.1f} s; {len(acknowledged)} orders acknowledged"
    )
    # Demoted within the leader key's TTL (plus one loop and the probe's own interval).
    assert demoted_at - cut_at <= db.patroni_ttl + db.patroni_loop_wait + 1
    # No write acknowledged by the cut-off primary: its synchronous standby could not confirm any.
    acked_cut_off = [a for a in buys if a["status"] == 201 and cut_at + 1 < a["t"] < demoted_at]
    assert not acked_cut_off, acked_cut_off[:5]
    counts = orders_stored(fleet, acknowledged)
    assert all(n == 1 for n in counts.values()), {k: n for k, n in counts.items() if n != 1}
    assert any(a["status"] == 201 and a["t"] > new_leader_at for a in buys), "writes resumed"
    # Read-only, not down: every read answered 200 throughout; refused purchases were 503s (or timeouts).
    assert {a["status"] for a in reads} == {200}, sorted({a["status"] for a in reads})
    assert {a["status"] for a in buys} <= {201, 503, 0}, sorted({a["status"] for a in buys})
    # It rejoined as a replica of the new timeline by itself (pg_rewind).
    status = patroni_status(old, fleet.place.prober(old))
    assert status and status.get("role") == "replica" and status.get("state") in ("running", "streaming")
