"""systemd units for production hosts: exact output, quoting, and the environment file."""

from __future__ import annotations

from pathlib import Path

from deploy.model.units import Program
from deploy.render.systemd import render_env_file, render_unit, unit_name
from deploy.roles.base import RenderContext
from deploy.roles.nodes import programs
from tests.unit.fixtures import PATHS, SECRETS, small
from tests.unit.golden import assert_golden


def by_name(name: str) -> Program:
    return next(p for p in programs(RenderContext(small(), PATHS, SECRETS)) if p.name == name)


def test_web_unit_exact() -> None:
    assert unit_name(by_name("web1")) == "tiers-web1.service"
    assert_golden("tiers-web1.service", render_unit(by_name("web1"), "mini"))


def test_db_unit_runs_patroni_as_postgres_and_kills_only_patroni() -> None:
    text = render_unit(by_name("db1"), "mini")
    assert "User=postgres\n" in text
    assert "ExecStart=/repo/.venv/bin/patroni /state/conf/patroni-db1.yml\n" in text
    assert "KillMode=process\n" in text
    assert "EnvironmentFile" not in text


def test_worker_secrets_go_to_an_environment_file_not_the_unit() -> None:
    worker = by_name("worker1")
    text = render_unit(worker, "mini", Path("/state/conf/worker1.env"))
    assert "EnvironmentFile=/state/conf/worker1.env\n" in text
    assert SECRETS.db_app_password not in text
    env = render_env_file(worker.environment)
    assert f'DB_PASSWORD="{SECRETS.db_app_password}"\n' in env


def test_quoting_of_odd_values() -> None:
    assert render_env_file({"A": 'say "hi" \\ now'}) == 'A="say \\"hi\\" \\\\ now"\n'
    odd = Program(name="x", role="cache", argv=("/bin/echo", "100%", "$HOME", "a b"))
    assert "ExecStart=/bin/echo 100%% '$$HOME' 'a b'\n" in render_unit(odd, "mini")
