"""`python -m deploy node-install`: every node's files for a production host, units checked by systemd."""

from __future__ import annotations

import json
import pwd
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from deploy.commands.releases import ReleaseStore
from deploy.model.app import load as load_app
from deploy.model.paths import DEFAULT_APP, REPO
from deploy.model.secrets import Secrets
from deploy.roles import ROLES, load

pytestmark = pytest.mark.integration

LOCAL = REPO / "deploy" / "topologies" / "local.toml"


@pytest.fixture
def production(tmp_path: Path) -> tuple[Path, Path]:
    topo = tmp_path / "prod.toml"
    topo.write_text(
        LOCAL.read_text()
        .replace('name = "local"', 'name = "prodcheck"')
        .replace('profile = "local"', 'profile = "production"')
    )
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps(asdict(Secrets.generate())))
    # The release the app nodes run, placed in the host's state folder as a deploy ships it there.
    release = ReleaseStore(tmp_path / "state" / "prodcheck").build(load_app(DEFAULT_APP), log=lambda _m: None)
    (tmp_path / "release-version").write_text(release.version)
    return topo, secrets


def _release(tmp: Path) -> list[str]:
    return ["--release", (tmp / "release-version").read_text()]


def _install(topo: Path, node: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy", "--topology", str(topo), "node-install", node, "--no-enable",
         "--state", str(tmp / "state"), "--systemd-dir", str(tmp / "units"), *_release(tmp), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_every_node_installs_and_systemd_accepts_its_unit(production, tmp_path: Path) -> None:
    topo_file, secrets = production
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze is missing: `make test` installs it (Debian package systemd)")
    for node in load(topo_file):
        out = _install(topo_file, node.name, tmp_path, "--secrets", str(secrets))
        assert out.returncode == 0, out.stderr
        # A DB node's host also runs its backup schedule (a sidecar program, its own unit).
        names = [node.name, *([f"{node.name}-backups"] if node.role == "db" else [])]
        for name in names:
            unit = tmp_path / "units" / f"tiers-{name}.service"
            assert unit.exists()
            check = subprocess.run(
                ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
            )
            problems = [line for line in check.stderr.splitlines() if f"tiers-{name}" in line]
            assert check.returncode == 0 and not problems, check.stderr
    conf = tmp_path / "state" / "prodcheck" / "conf"
    assert (conf / "uwsgi-web1.ini").exists() and (conf / "patroni-db1.yml").exists()
    backup_conf = conf / "pgbackrest-db1.conf"
    assert backup_conf.stat().st_mode & 0o077 == 0, "pgBackRest's config holds its S3 key pair"
    assert (conf / "haproxy-lb.cfg").exists() and (conf / "nginx-media.conf").exists()
    env = conf / "worker1.env"
    assert env.stat().st_mode & 0o077 == 0, "the worker's environment file holds secrets: root only"


def test_a_production_node_without_secrets_is_refused(production, tmp_path: Path) -> None:
    topo_file, _secrets = production
    # web1 renders Django's keys; lb the stats page's password; etcd sets up its users' passwords.
    for node in ("web1", "lb", "etcd"):
        out = _install(topo_file, node, tmp_path)
        assert out.returncode == 1
        assert "needs its secrets" in out.stderr
    assert not (tmp_path / "units").exists()


def test_nodes_without_secrets_in_their_configs_install_without_a_secrets_file(
    production, tmp_path: Path
) -> None:
    topo_file, _secrets = production
    for node in ("media", "dbproxy", "cache1"):
        out = _install(topo_file, node, tmp_path)
        assert out.returncode == 0, out.stderr
    conf = tmp_path / "state" / "prodcheck" / "conf"
    assert "unused" not in (conf / "nginx-media.conf").read_text()


def test_a_host_keeps_only_its_roles_secrets_readable_by_root_only(production, tmp_path: Path) -> None:
    """Probe: the state folder's secrets files after node-install got the whole cluster secret on stdin."""
    topo_file, secrets = production
    everything = json.loads(secrets.read_text())
    state = tmp_path / "state" / "prodcheck"
    for node in ("web1", "db1", "lb", "etcd"):
        out = subprocess.run(
            [sys.executable, "-m", "deploy", "--topology", str(topo_file), "node-install", node, "--no-enable",
             "--state", str(tmp_path / "state"), "--systemd-dir", str(tmp_path / "units"), "--secrets", "-",
             *_release(tmp_path)],
            cwd=REPO, input=secrets.read_text(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
    for role in ("web", "db", "lb", "etcd"):
        kept = state / f"secrets-{role}.json"
        assert kept.stat().st_mode & 0o777 == 0o600 and kept.stat().st_uid == 0
        data = json.loads(kept.read_text())
        assert set(data) == set(ROLES[role].secrets), role
        assert all(data[k] == everything[k] for k in data)
    assert not (state / "secrets.json").exists()  # the whole file never lands on a host
    # A later node-install of the role needs no file: the host's copy is enough.
    again = _install(topo_file, "web1", tmp_path)
    assert again.returncode == 0, again.stderr
    ini = state / "conf" / "uwsgi-web1.ini"
    assert ini.stat().st_mode & 0o777 == 0o600 and ini.stat().st_uid == pwd.getpwnam("tiers-web").pw_uid
    assert everything["django_secret_key"] in ini.read_text()
