"""Least privilege in what the builders render (issue 12): users, sandboxes, TLS, debug headers, secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy.commands import hosts
from deploy.model.paths import REPO, StatePaths
from deploy.model.topology import Topology
from deploy.model.units import ConfigFile
from deploy.render.django_env import web_environment
from deploy.render.etcd import auth_setup, etcd_command
from deploy.render.haproxy import DEBUG_HEADERS, render_dbproxy, render_lb
from deploy.render.patroni import patroni_ctl_config, render_patroni
from deploy.render.seaweed import seaweed_environment
from deploy.render.systemd import render_unit
from deploy.roles import loads
from deploy.roles.base import RenderContext
from deploy.roles.nodes import program_for
from tests.unit.fixtures import SECRETS

LOCAL = (REPO / "deploy" / "topologies" / "local.toml").read_text()
PATHS = StatePaths(root=Path("/var/lib/tiers/prod"), repo=Path("/opt/tiers/src"))


def production() -> Topology:
    return loads(LOCAL.replace('profile = "local"', 'profile = "production"'), "prod.toml")


def local() -> Topology:
    return loads(LOCAL, "local.toml")


def test_production_render_sends_no_debug_headers() -> None:
    prod = production()
    assert web_environment(prod, prod.node("web1"), PATHS, SECRETS)["DEBUG_HEADERS"] == "0"
    lb = render_lb(prod, PATHS, SECRETS)
    for header in ("X-Served-By", "X-Release", "X-DB-Reads"):
        assert header in DEBUG_HEADERS
        assert f"    http-response del-header {header}\n" in lb
    assert "del-header X-Served-By" not in render_lb(local(), PATHS, SECRETS)  # tests and operators read them


def test_the_app_sends_no_debug_header_without_debug_headers() -> None:
    """Probe: Django's test client against the example project's settings with the Tiers layer on top (the
    real middleware stack), DEBUG_HEADERS=0 then 1."""
    code = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "r = Client().get('/healthz', HTTP_HOST='localhost')\n"
        "print(sorted(h for h in ('X-Served-By', 'X-Release', 'X-DB-Reads', 'X-Scheme') if h in r.headers))\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TIERS_", "DB_", "S3_"))}
    seen = {}
    for flag in ("0", "1"):
        env = {
            **clean,
            "DJANGO_SETTINGS_MODULE": "tiers_site.settings",
            "TIERS_APP_SETTINGS": "boxoffice_site.settings",
            "PYTHONPATH": str(REPO / "examples" / "boxoffice"),
            "DEBUG_HEADERS": flag,
        }
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO / "app",
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        seen[flag] = out.stdout.strip()
    assert seen["0"] == "[]"
    assert "X-Served-By" in seen["1"] and "X-Release" in seen["1"]


def test_production_control_planes_and_postgres_speak_tls() -> None:
    prod = production()
    db1, etcd = prod.node("db1"), prod.one("etcd")
    cert, ca = "/var/lib/tiers/prod/tls/db1.pem", "/var/lib/tiers/prod/tls/ca.pem"
    conf = yaml.safe_load(render_patroni(prod, db1, PATHS, SECRETS))
    assert conf["restapi"]["certfile"] == cert and conf["restapi"]["keyfile"] == cert
    assert conf["etcd3"]["protocol"] == "https" and conf["etcd3"]["cacert"] == ca
    params = conf["postgresql"]["parameters"]
    assert params["ssl"] == "on" and params["ssl_cert_file"] == cert and params["ssl_key_file"] == cert
    tcp = [line for line in conf["postgresql"]["pg_hba"] if not line.startswith("local")]
    assert tcp and all(line.startswith("hostssl ") for line in tcp), tcp
    argv = etcd_command(prod, etcd, PATHS)
    assert f"--listen-client-urls=https://{etcd.address}:2379" in argv
    assert "--cert-file=/var/lib/tiers/prod/tls/etcd.pem" in argv and "--peer-client-cert-auth" in argv
    assert f"check-ssl verify required ca-file {ca}" in render_dbproxy(prod, PATHS)
    ctl = yaml.safe_load(patroni_ctl_config(prod, PATHS, SECRETS))
    assert ctl["ctl"]["cacert"] == ca and ctl["etcd3"]["protocol"] == "https"
    # The local profile stays plain (and pg_hba host): one machine, loopback only.
    local_conf = yaml.safe_load(render_patroni(local(), local().node("db1"), PATHS, SECRETS))
    assert "certfile" not in local_conf["restapi"] and "ssl" not in local_conf["postgresql"]["parameters"]


@pytest.mark.parametrize("node", [n.name for n in local()])
def test_every_program_runs_unprivileged_and_its_unit_is_sandboxed(node: str) -> None:
    prod = production()
    program = program_for(RenderContext(prod, PATHS, SECRETS), prod.node(node))
    assert program.user not in ("root", "") and program.writable
    unit = render_unit(program, "prod")
    for line in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=read-only"):
        assert f"\n{line}\n" in unit
    assert f"\nUser={program.user}\n" in unit
    assert f"\nReadWritePaths={' '.join(program.writable)}\n" in unit
    assert f"\nCapabilityBoundingSet={' '.join(program.capabilities)}\n" in unit
    # Only the public roles bind 80/443 in production; nothing else keeps a capability.
    expected = {"lb": {"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT"}, "media": {"CAP_NET_BIND_SERVICE"}}
    assert set(program.capabilities) == expected.get(program.role, set())


def test_production_lb_chroots_its_workers_and_logs_inside_the_jail() -> None:
    lb = render_lb(production(), PATHS, SECRETS)
    assert "    user haproxy\n    group haproxy\n    chroot /var/lib/tiers/prod/run/haproxy-lb/jail\n" in lb
    assert "    log /dev/log len 4096 local0\n" in lb
    assert "chroot" not in render_lb(local(), PATHS, SECRETS)  # supervisord cannot lend CAP_SYS_CHROOT


def test_etcd_auth_setup_passes_passwords_on_stdin_only() -> None:
    prod = local()
    (command,) = auth_setup(prod, prod.one("etcd"), PATHS, SECRETS)
    assert command.argv[1:] == ("/usr/bin/etcdctl", "http://127.0.2.9:2379", "/tiers/local/")
    assert command.input == f"{SECRETS.etcd_root_password}\n{SECRETS.etcd_patroni_password}\n"
    assert not any(
        SECRETS.etcd_root_password in a or SECRETS.etcd_patroni_password in a for a in command.argv
    )


def test_seaweed_jwt_keys_differ_per_purpose() -> None:
    env = seaweed_environment(SECRETS)
    keys = [v for k, v in env.items() if k.startswith("WEED_JWT_")]
    assert len(keys) == 4 and len(set(keys)) == 4
    assert SECRETS.seaweed_jwt_key not in keys
    assert env["WEED_FILER_EXPOSE_DIRECTORY_METADATA_ENABLED"] == "false"


def test_a_secret_file_is_never_wider_than_its_mode(tmp_path: Path) -> None:
    """Probe: the file's mode right after creation, with a permissive umask and a stale temp file."""
    path = tmp_path / "secret.ini"
    (tmp_path / "secret.ini.tmp").write_text("stale")
    (tmp_path / "secret.ini.tmp").chmod(0o644)
    old = os.umask(0)
    try:
        assert hosts.write_if_changed(ConfigFile(path, "password=x\n", 0o600))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600 and not (tmp_path / "secret.ini.tmp").exists()
    path.chmod(0o644)  # an older release's mode: corrected without rewriting
    assert not hosts.write_if_changed(ConfigFile(path, "password=x\n", 0o600))
    assert path.stat().st_mode & 0o777 == 0o600
