"""systemd units for production hosts: exact output, quoting, and the environment file."""

from __future__ import annotations

from pathlib import Path

from deploy.model.units import Program
from deploy.render.systemd import render_env_file, render_unit, unit_name
from deploy.roles.base import RenderContext
from deploy.roles.nodes import programs
from tests.unit.fixtures import PATHS, SECRETS, fake_release, small
from tests.unit.golden import assert_golden


def by_name(name: str, ctx: RenderContext | None = None) -> Program:
    return next(p for p in programs(ctx or RenderContext(small(), PATHS, SECRETS)) if p.name == name)


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
    # The live release, which workers run (before the first one a worker has no environment at all).
    worker = by_name("worker1", RenderContext(small(), PATHS, SECRETS, worker_release=fake_release()))
    text = render_unit(worker, "mini", Path("/state/conf/worker1.env"))
    assert "EnvironmentFile=/state/conf/worker1.env\n" in text
    assert SECRETS.db_app_password not in text
    env = render_env_file(worker.environment)
    assert f'DB_PASSWORD="{SECRETS.db_app_password}"\n' in env
    # The project's own secrets too (tiers.toml [app.secrets]), never in the unit.
    assert 'APP_TOKEN="test-token"\n' in env and "test-token" not in text


def test_quoting_of_odd_values() -> None:
    assert render_env_file({"A": 'say "hi" \\ now'}) == 'A="say \\"hi\\" \\\\ now"\n'
    odd = Program(name="x", role="cache", argv=("/bin/echo", "100%", "$HOME", "a b"))
    assert "ExecStart=/bin/echo 100%% '$$HOME' 'a b'\n" in render_unit(odd, "mini")
