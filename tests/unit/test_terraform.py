"""terraform/ checked by terraform itself, offline: fmt, init from the local provider mirror, validate
(the root and every example), `terraform test` with a mocked provider (tests/*.tftest.hcl: the security
groups against the topology's ports, the outputs against the topology, the instances' metadata settings)
and checkov. One init per root per run, with a shared plugin cache. Skips, saying why, where the CLI or
the mirror is absent; checkov's test skips where `make test`'s bootstrap has not installed it.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest

from deploy.commands.tf_topology import from_terraform
from deploy.model.topology import TopologyError
from deploy.roles import loads
from tests.unit import tf_tools
from tests.unit.tf_tools import CHECKOV, ROOTS, TF, missing, run

needs_terraform = pytest.mark.skipif(bool(missing()), reason=missing() or "terraform available")


@needs_terraform
def test_fmt_check(tf_env: dict[str, str]) -> None:
    out = run(["fmt", "-check", "-recursive", "-diff", "-no-color"], TF, tf_env)
    assert out.returncode == 0, f"terraform fmt would change:\n{out.stdout}{out.stderr}"


@needs_terraform
@pytest.mark.parametrize("root", ROOTS, ids=lambda p: str(p.relative_to(TF)))
def test_validate(tf_env: dict[str, str], root: Path) -> None:
    out = run(["validate", "-no-color"], root, tf_env)
    assert out.returncode == 0, f"terraform validate in {root}:\n{out.stdout}{out.stderr}"


@needs_terraform
def test_terraform_test_with_mock_providers(tf_env: dict[str, str]) -> None:
    out = run(["test", "-no-color"], TF, tf_env, timeout=600)
    assert out.returncode == 0, f"terraform test:\n{out.stdout[-6000:]}{out.stderr}"
    assert "0 failed" in out.stdout


@needs_terraform
@pytest.mark.skipif(
    not CHECKOV.exists(), reason=f"checkov not installed at {CHECKOV} (make test installs it)"
)
def test_checkov(tf_env: dict[str, str]) -> None:
    out = subprocess.run(
        [str(CHECKOV), "--quiet", "--compact", "--framework", "terraform", "--config-file",
         str(TF / ".checkov.yaml"), "-d", str(TF)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert out.returncode == 0, (
        f"checkov findings (fix them, or skip with a reason in the code):\n{out.stdout[-8000:]}"
    )


# --- the templates, rendered by the real templatefile() -------------------------------------------------


def render(template: str, hcl_vars: str, tmp_path: Path, env: dict[str, str]) -> str:
    # The console reads one line at a time: the (multi-line) call goes into a local of a tiny config.
    (tmp_path / "main.tf").write_text(
        f'locals {{\n  out = base64encode(templatefile("{TF / "templates" / template}", {hcl_vars}))\n}}\n'
    )
    out = subprocess.run(
        [tf_tools.TERRAFORM or "terraform", "console"], input="local.out\n", capture_output=True, text=True,
        cwd=tmp_path, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return base64.b64decode(out.stdout.strip().strip('"')).decode()


def user_data_vars(*, secret_id: str, release_setup: bool, admin: str) -> str:
    return f"""{{
  cluster = "tiers-prod", role = "web", region = "eu-west-1"
  packages = ["postgresql-client"], debian_units = []
  release_repo = "https://git.example.org/tiers.git", release_ref = "v1.2.3"
  topology_parameter = "/tiers-prod/topology.toml"
  secret_id = "{secret_id}", release_setup = {str(release_setup).lower()}, db_admin_user = "{admin}"
}}"""


@needs_terraform
@pytest.mark.parametrize(
    ("secret_id", "release_setup", "admin"),
    [("tiers-prod/secrets", True, "tiers_admin"), ("tiers-prod/secrets", True, ""), ("", False, "")],
)
def test_user_data_is_valid_bash_installs_ssm_and_follows_the_topology(
    tmp_path: Path, tf_env: dict[str, str], secret_id: str, release_setup: bool, admin: str
) -> None:
    script = render(
        "user_data.sh.tftpl",
        user_data_vars(secret_id=secret_id, release_setup=release_setup, admin=admin),
        tmp_path,
        tf_env,
    )
    check = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    sync = script.split("<<'SYNC'\n")[1].split("\nSYNC\n")[0]
    check = subprocess.run(["bash", "-n"], input=sync, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, f"tiers-sync: {check.stderr}"
    assert "amazon-ssm-agent.deb" in script and "systemctl enable --now amazon-ssm-agent" in script
    assert "systemctl enable --now tiers-sync.timer" in script
    assert 'node-install "$node"' in sync and "cmp -s" in sync
    assert ("secretsmanager get-secret-value" in sync) is (secret_id != "")
    assert ("release-setup" in sync) is release_setup
    assert ("--db-admin-user" in sync) is (admin != "")


# --- topology from-terraform ------------------------------------------------------------------------------

AWS_TOPOLOGY = (Path(__file__).parent / "golden" / "aws-rds.toml").read_text()


def test_from_terraform_takes_and_validates_the_topology_output() -> None:
    outputs = json.dumps({"site_url": {"value": "https://x/"}, "topology_toml": {"value": AWS_TOPOLOGY}})
    text, topo = from_terraform(outputs)
    assert text == AWS_TOPOLOGY
    assert [n.name for n in topo.managed()] == ["db1", "db2", "dbproxy", "cache1", "s3"]
    assert topo.one("dbproxy").address == topo.node("db1").address  # RDS: writes go to the writer


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ("not json", "not JSON"),
        ('{"site_url": {"value": "x"}}', "no output 'topology_toml' (outputs: site_url)"),
        ('{"topology_toml": {"value": null}}', "is empty"),
        ('{"topology_toml": {"value": "[cluster]\\nname = 1"}}', "[cluster] name: must be a str"),
    ],
)
def test_from_terraform_refuses_what_is_not_a_topology(outputs: str, message: str) -> None:
    with pytest.raises(TopologyError, match=None) as err:
        from_terraform(outputs)
    assert message in str(err.value)


def test_managed_endpoints_may_be_host_names_and_others_may_not() -> None:
    assert loads(AWS_TOPOLOGY).node("db2").address.endswith(".rds.amazonaws.com")
    bad = AWS_TOPOLOGY.replace('address = "10.40.128.10"', 'address = "web1.internal"')
    with pytest.raises(TopologyError, match="is not an IP address"):
        loads(bad)
    unmarked = AWS_TOPOLOGY.replace('role = "replica"\nmanaged = true', 'role = "replica"')
    with pytest.raises(TopologyError, match="add managed = true"):
        loads(unmarked)


def test_emulator_endpoints_live_only_in_the_rehearsal_override() -> None:
    from deploy.commands.tf_rehearsal import SERVICES, override

    text = override("http://127.3.9.9:5055")
    assert all(f'{s} = "http://127.3.9.9:5055"' in text for s in SERVICES)
    real = [p for p in TF.rglob("*.tf") if ".terraform" not in p.parts]
    overriding = re.compile(r"^\s*(endpoints\s*\{|skip_credentials_validation|access_key)", re.M)
    assert real and not [p for p in real if overriding.search(p.read_text())]
