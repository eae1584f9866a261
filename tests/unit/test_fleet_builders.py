"""The fleet's pure builders: SSH argv, namespaces, sshd start, firewall rules, remote probes."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.clients.probes import curl_argv, parse_curl, tcp_argv
from deploy.clients.transport import SSH, explain
from deploy.commands.fleet import endpoints, network_argv, node_install_argv, sshd_start_argv
from deploy.commands.scale import scaled
from deploy.model.paths import REPO
from deploy.model.topology import TopologyError
from deploy.roles import loads
from deploy.roles.firewall import render_ruleset, rules_for
from tests.unit.golden import assert_golden

FLEET = (REPO / "deploy" / "topologies" / "fleet.toml").read_text()
TOPO = loads(FLEET, "fleet.toml")

HOST = SSH(
    name="web1",
    address="10.231.0.11",
    key=Path("/v/ops/id_ed25519"),
    known_hosts=Path("/v/ops/known_hosts"),
    control_dir=Path("/v/ops/ctl"),
    via=("ip", "netns", "exec", "tiers-fleet-ops"),
)


def test_ssh_command_argv_exact() -> None:
    assert HOST.command_argv(["tail", "-n", "5", "/var/lib/tiers/fleet/log/web1.log"]) == [
        "ip", "netns", "exec", "tiers-fleet-ops", "ssh", "-i", "/v/ops/id_ed25519", "-p", "22",
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=/v/ops/known_hosts",
        "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
        "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3", "-o", "ControlMaster=auto",
        "-o", "ControlPath=/v/ops/ctl/web1.ctl", "-o", "ControlPersist=120", "-o", "LogLevel=ERROR",
        "root@10.231.0.11", "--", "tail -n 5 /var/lib/tiers/fleet/log/web1.log",
    ]  # fmt: skip


def test_proxy_command_for_ssm() -> None:
    ssm = SSH(
        "web1", "i-0abc", Path("k"), Path("kh"), Path("c"), proxy_command="aws ssm start-session --target %h"
    )
    argv = ssm.base_argv()
    assert argv[0] == "ssh" and "ProxyCommand=aws ssm start-session --target %h" in argv


@pytest.mark.parametrize(
    ("stderr", "says"),
    [
        ("root@10.231.0.11: Permission denied (publickey).", "refused the key /v/ops/id_ed25519"),
        ("Host key verification failed.", "not the one pinned in /v/ops/known_hosts"),
        ("ssh: connect to host 10.231.0.11 port 22: No route to host", "is unreachable"),
        ("ssh: connect to host 10.231.0.11 port 22: Connection timed out", "is unreachable"),
    ],
)
def test_ssh_failures_name_the_host_and_the_fix(stderr: str, says: str) -> None:
    message = explain(HOST, stderr)
    assert message.startswith("host web1 (root@10.231.0.11, port 22)") and says in message


def test_network_keeps_the_root_namespace_untouched() -> None:
    cmds = network_argv(TOPO)
    assert cmds[:4] == [
        ["ip", "netns", "add", "tiers-fleet-net"],
        ["ip", "-n", "tiers-fleet-net", "link", "set", "lo", "up"],
        ["ip", "-n", "tiers-fleet-net", "link", "add", "br0", "type", "bridge"],
        ["ip", "-n", "tiers-fleet-net", "link", "set", "br0", "up"],
    ]
    # Every link command names a namespace (-n) or creates one: none acts on the root namespace.
    assert all(c[:3] == ["ip", "netns", "add"] or c[1] == "-n" for c in cmds)
    assert ["ip", "-n", "tiers-fleet-web1", "addr", "add", "10.231.0.11/24", "dev", "eth0"] in cmds
    assert not any("route" in c for c in cmds)  # no route out
    assert [name for name, _a in endpoints(TOPO)][-2:] == ["internet", "ops"]


def test_sshd_runs_in_the_hosts_own_namespaces() -> None:
    argv = sshd_start_argv(
        "fleet", TOPO.node("db1"), Path("/r/var/fleet/hosts/db1"), Path("/r/var"), Path("/r")
    )
    assert argv[:10] == ["ip", "netns", "exec", "tiers-fleet-db1", "unshare", "--mount", "--uts", "--propagation",
                         "private", "--"]  # fmt: skip
    script = argv[-1]
    assert "mount --bind /r/var/fleet/hosts/db1 /var/lib/tiers" in script
    assert "mount -t tmpfs -o mode=0755,size=1m tiers-hidden /r/var" in script  # the operator's var/ hidden
    # A /tmp of the host's own, assembled on /mnt and moved into place (this code is not under /tmp).
    assert "mount -t tmpfs -o mode=1777,size=256m tiers-tmp /mnt && mount --move /mnt /tmp && " in script
    assert (
        script.index("--bind")
        < script.index("tiers-tmp")
        < script.index("tiers-hidden")
        < script.index("sshd")
    )


def test_a_host_keeps_code_that_lives_under_tmp() -> None:
    """A CI clone under /tmp: bound into the host's new /tmp before it is moved into place, var/ hidden after."""
    argv = sshd_start_argv(
        "fleet", TOPO.node("db1"), Path("/tmp/ci/var/fleet/hosts/db1"), Path("/tmp/ci/var"), Path("/tmp/ci")
    )
    assert argv[-1] == (
        "hostname db1 && mount --bind /tmp/ci/var/fleet/hosts/db1 /var/lib/tiers && "
        "mount -t tmpfs -o mode=1777,size=256m tiers-tmp /mnt && "
        "mkdir -p /mnt/ci && mount --bind /tmp/ci /mnt/ci && mount --move /mnt /tmp && "
        "mount -t tmpfs -o mode=0755,size=1m tiers-hidden /tmp/ci/var && "
        "exec /usr/sbin/sshd -f /var/lib/tiers/ssh/sshd_config -E /var/lib/tiers/ssh/sshd.log"
    )


def test_node_install_argv_reads_secrets_from_stdin() -> None:
    argv = node_install_argv(Path("/t/fleet.toml"), TOPO.node("web1"), "v1", 2)
    assert argv[-12:] == ["node-install", "web1", "--state", "/var/lib/tiers", "--manager", "supervisord",
                          "--secrets", "-", "--release", "v1", "--web-count", "2"]  # fmt: skip


def test_a_fleet_scales_within_its_hosts() -> None:
    one = scaled(TOPO, 1)
    assert [n.name for n in one.by_role("web")] == ["web1"]
    assert len(one.nodes) == len(TOPO.nodes) - 1
    with pytest.raises(TopologyError, match="a fleet scales within them"):
        scaled(TOPO, 3)


def test_firewall_of_a_db_host_exact() -> None:
    assert_golden("nftables-db1.nft", render_ruleset(TOPO, TOPO.node("db1")))


def test_firewall_rules_follow_the_security_group_rows() -> None:
    web = rules_for(TOPO, TOPO.node("web1"))
    # Only the lb, on uWSGI's site port and its check port.
    assert [(r.sources, r.port) for r in web] == [(("10.231.0.10",), 8000), (("10.231.0.10",), 8001)]
    etcd = rules_for(TOPO, TOPO.node("etcd"))  # db -> etcd; etcd's own rows skip its only member
    assert [(r.sources, r.port) for r in etcd] == [(("10.231.0.21", "10.231.0.22", "10.231.0.23"), 2379)]
    assert "tcp dport 8080 accept" in render_ruleset(TOPO, TOPO.node("lb"))  # public
    assert "tcp dport 8443 accept" in render_ruleset(TOPO, TOPO.node("lb"))  # public, HTTPS
    assert "tcp dport 8404" not in render_ruleset(TOPO, TOPO.node("lb"))  # stats: nobody from outside


def test_remote_probe_builders_and_parser() -> None:
    assert curl_argv("10.0.0.1", 8000, "/readyz", None, 3.0) == [
        "curl",
        "-s",
        "-i",
        "--max-time",
        "3",
        "-H",
        "Host: 10.0.0.1",
        "http://10.0.0.1:8000/readyz",
    ]
    assert tcp_argv("10.0.0.1", 5432, 1.0) == ["timeout", "1", "bash", "-c", "exec 3<>/dev/tcp/10.0.0.1/5432"]
    status, headers, body = parse_curl(b"HTTP/1.1 503 Service Unavailable\nX-Release: v2\n\n{}")
    assert (status, headers["x-release"], body) == (503, "v2", b"{}")


def test_fleet_topology_errors_name_the_field() -> None:
    bad = FLEET.replace('address = "10.231.0.12"', 'address = "10.99.0.12"')
    with pytest.raises(TopologyError, match=r"\[web.web2\] address: 10.99.0.12 is outside the fleet network"):
        loads(bad, "bad.toml")
    dup = FLEET.replace('internet_address = "10.231.0.250"', 'internet_address = "10.231.0.10"')
    with pytest.raises(TopologyError, match="already"):
        loads(dup, "dup.toml")
    with pytest.raises(TopologyError, match="hosts: 'cloud' is not one of loopback, fleet"):
        loads(FLEET.replace('hosts = "fleet"', 'hosts = "cloud"'), "x.toml")
