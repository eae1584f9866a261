"""The rendered HAProxy and nginx configs pass the real binaries' own checks.

Needs only `haproxy` and `nginx` on PATH (no cluster): `haproxy -c` and `nginx -t` neither bind
the listeners nor contact any upstream, so S3 and the web nodes may be down.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from deploy.commands import pki
from deploy.model.paths import REPO, StatePaths
from deploy.model.topology import Topology
from deploy.render.haproxy import render_dbproxy, render_lb, render_lb_syslog
from deploy.render.nginx import render_media
from deploy.render.templates import render
from deploy.roles import load
from deploy.roles.firewall import render_ruleset
from deploy.roles.nodes import node_dirs, state_dirs
from tests.unit.fixtures import SECRETS

pytestmark = pytest.mark.integration

TOPOLOGIES = sorted((REPO / "deploy" / "topologies").glob("*.toml"))


def _binary(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip(f"{name} is not installed")


def _write(paths: StatePaths, name: str, text: str) -> Path:
    target = paths.conf_file(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def _haproxy_check(config: Path) -> None:
    result = subprocess.run(
        [_binary("haproxy"), "-c", "-f", str(config)], capture_output=True, text=True, timeout=30
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "[ALERT]" not in output, output
    # The only warning allowed is the server-state file that no reload has written yet.
    warnings = [line for line in output.splitlines() if "[WARNING]" in line]
    assert all("server state file" in line for line in warnings), output


@pytest.fixture(params=TOPOLOGIES, ids=lambda p: p.stem)
def topo(request: pytest.FixtureRequest) -> Topology:
    return load(request.param)


@pytest.fixture
def paths(tmp_path: Path, topo: Topology) -> StatePaths:
    state = StatePaths(root=tmp_path / "state")
    state.run.mkdir(parents=True)
    # The TLS listeners load their certificates at check time: issue them as `up` does.
    pki.ensure_certificates(topo, state)
    return state


@pytest.fixture(params=["local", "production"])
def profiled(request: pytest.FixtureRequest, topo: Topology) -> Topology:
    """The topology in both profiles (production adds the HTTP-to-HTTPS redirects)."""
    return dataclasses.replace(topo, cluster=dataclasses.replace(topo.cluster, profile=request.param))


def test_haproxy_lb_config_is_valid(profiled: Topology, paths: StatePaths) -> None:
    _haproxy_check(_write(paths, "haproxy-lb.cfg", render_lb(profiled, paths, SECRETS)))


def test_haproxy_lb_syslog_config_is_valid(topo: Topology, paths: StatePaths) -> None:
    for d in [*state_dirs(paths), *node_dirs(paths, topo.one("lb"))]:
        d.path.mkdir(parents=True, exist_ok=True)
    config = _write(paths, "rsyslog-lb.conf", render_lb_syslog(topo, paths))
    result = subprocess.run(
        [_binary("rsyslogd"), "-N1", "-f", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr


def test_haproxy_lb_config_loads_a_saved_server_state(topo: Topology, paths: StatePaths) -> None:
    # What `show servers state` writes before a reload: version line, then the column header.
    columns = (
        "be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
        "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
        "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl "
        "srv_check_port srv_check_addr srv_agent_addr srv_agent_port"
    )
    paths.haproxy_server_state.parent.mkdir(parents=True, exist_ok=True)
    paths.haproxy_server_state.write_text(f"1\n# {columns}\n")
    _haproxy_check(_write(paths, "haproxy-lb.cfg", render_lb(topo, paths, SECRETS)))


def test_haproxy_dbproxy_config_is_valid(profiled: Topology, paths: StatePaths) -> None:
    # Production checks Patroni's REST API over TLS against the cluster CA, which must exist.
    pki.ensure_ca(paths, profiled.cluster.name)
    _haproxy_check(_write(paths, "haproxy-dbproxy.cfg", render_dbproxy(profiled, paths)))


def test_nginx_media_config_is_valid(profiled: Topology, paths: StatePaths) -> None:
    topo = profiled
    for d in [*state_dirs(paths), *node_dirs(paths, topo.one("media"))]:
        d.path.mkdir(parents=True, exist_ok=True)
    config = _write(paths, "nginx-media.conf", render_media(topo, paths))
    prefix = paths.data(topo.one("media").name)
    argv = [_binary("nginx"), "-t", "-p", str(prefix), "-c", str(config)]
    if topo.cluster.hosts == "fleet":
        # nginx -t binds its listen address: a fleet host's exists only in its namespace, so check in a
        # throw-away network namespace that has it.
        address = topo.one("media").address
        argv = ["unshare", "--net", "sh", "-c", f'ip link set lo up && ip addr add {address}/32 dev lo && exec "$@"',
                "check", *argv]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "[warn]" not in result.stderr, result.stderr
    # nginx created its cache and temp dirs inside the node's data dir, nowhere else.
    assert {p.name for p in prefix.iterdir()} == {
        "cache",
        "client_body_temp",
        "proxy_temp",
        "fastcgi_temp",
        "uwsgi_temp",
        "scgi_temp",
    }


def test_fleet_firewalls_and_sshd_configs_are_valid(tmp_path: Path) -> None:
    """Every rehearsal host's nftables ruleset (nft -c) and sshd config (sshd -t) pass the real tools."""
    fleet = load(REPO / "deploy" / "topologies" / "fleet.toml")
    for node in fleet:
        check = subprocess.run(
            ["nft", "-c", "-f", "-"],
            input=render_ruleset(fleet, node),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert check.returncode == 0, f"{node.name}: {check.stderr}"
    key = tmp_path / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    config = render("deploy/templates/sshd_config.j2", cluster="fleet", node="web1", address="10.231.0.11",
                    mount=tmp_path).replace(f"{tmp_path}/ssh/", f"{tmp_path}/")  # fmt: skip
    (tmp_path / "sshd_config").write_text(config)
    Path("/run/sshd").mkdir(exist_ok=True)
    check = subprocess.run(
        ["/usr/sbin/sshd", "-t", "-f", str(tmp_path / "sshd_config")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


def test_nginx_media_config_for_a_managed_s3_is_valid(tmp_path: Path) -> None:
    """On AWS the media host proxies to S3's regional endpoint over HTTPS, by name, through a resolver."""
    topo = load(REPO / "tests" / "unit" / "golden" / "aws-rds.toml")
    paths = StatePaths(root=tmp_path / "state")
    paths.run.mkdir(parents=True)
    pki.ensure_certificates(topo, paths, [topo.one("media")])
    for d in [*state_dirs(paths), *node_dirs(paths, topo.one("media"))]:
        d.path.mkdir(parents=True, exist_ok=True)
    config = _write(paths, "nginx-media.conf", render_media(topo, paths))
    text = config.read_text()
    assert "proxy_pass https://$s3_host;" in text and "proxy_ssl_server_name on;" in text
    assert "resolver 169.254.169.253 " in text and "upstream s3" not in text
    address = topo.one("media").address  # a VPC address: nginx -t binds it, so check in a namespace
    argv = ["unshare", "--net", "sh", "-c", f'ip link set lo up && ip addr add {address}/32 dev lo && exec "$@"',
            "check", _binary("nginx"), "-t", "-p", str(paths.data("media")), "-c", str(config)]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr
