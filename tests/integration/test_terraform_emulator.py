"""terraform/modules/network applied by the real AWS provider against moto's emulator on loopback.

The light variant of `make tf-rehearsal` (which applies the whole example in minutes): the VPC, the
security groups from the registry's table and the VPC's default group, then read back through the EC2 API
and destroyed. Needs terraform, the provider mirror and moto (`make test` installs moto into .tools/).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.commands.tf_rehearsal import override
from tests.unit import tf_tools

HOST, PORT = "127.3.9.10", 5056  # this helper's loopback block, apart from make tf-rehearsal's port
MOTO = tf_tools.REPO / ".tools" / "bin" / "moto_server"

pytestmark = [
    pytest.mark.skipif(bool(tf_tools.missing()), reason=tf_tools.missing() or "terraform available"),
    pytest.mark.skipif(not MOTO.exists(), reason=f"moto not installed at {MOTO} (make test installs it)"),
]

ROOT = """
module "network" {
  source        = "./network"
  name          = "tiers-emu"
  vpc_cidr      = "10.40.0.0/16"
  az_count      = 2
  database_mode = "rds"
  allowed_http_cidrs = ["0.0.0.0/0"]
  public_ports  = { lb = [80, 443], media = [80, 443] }
  roles = { for role, r in local.tiers_roles : role => {
    exists_in = r.exists_in, instances_in = r.instances_in, public = r.public, reaches_s3 = r.reaches_s3
  } if role != "s3" }
  flows = { for name, f in local.tiers_flows : name => f if f.to != "s3" }
}

output "groups" {
  value = module.network.security_group_ids
}

output "vpc_id" {
  value = module.network.vpc_id
}
"""


@pytest.fixture(scope="module")
def tf_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return tf_tools.cli_env(tmp_path_factory.mktemp("terraform"))


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[str]:
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    log = (tmp_path / "moto.log").open("w")
    server = subprocess.Popen(
        [str(MOTO), "-H", HOST, "-p", str(PORT)], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    try:
        from deploy.clients.probes import wait_for
        from deploy.commands.tf_rehearsal import _listening

        wait_for(lambda: _listening(HOST, PORT), "moto", 30)
        yield f"http://{HOST}:{PORT}"
    finally:
        server.kill()
        server.wait(timeout=10)


def test_network_applies_with_closed_default_group_and_the_flow_table(
    tmp_path: Path,
    tf_env: dict[str, str],
    moto: str,
) -> None:
    import boto3

    root = tmp_path / "root"
    root.mkdir()
    shutil.copytree(tf_tools.TF / "modules" / "network", root / "network")
    shutil.copy(tf_tools.TF / "roles.tf.json", root)
    (root / "main.tf").write_text(ROOT)
    (root / "provider_override.tf").write_text(
        override(moto).replace('provider "aws" {', 'provider "aws" {\n  region = "eu-west-1"')
    )
    tf_tools.init(root, tf_env)
    applied = tf_tools.run(["apply", "-auto-approve", "-input=false", "-no-color"], root, tf_env, timeout=300)
    try:
        assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr
        ec2 = boto3.client(
            "ec2",
            endpoint_url=moto,
            region_name="eu-west-1",
            aws_access_key_id="r",
            aws_secret_access_key="r",
        )
        groups = ec2.describe_security_groups()["SecurityGroups"]
        vpc = tf_tools.run(["output", "-raw", "vpc_id"], root, tf_env).stdout
        default = next(g for g in groups if g["GroupName"] == "default" and g["VpcId"] == vpc)
        assert default["IpPermissions"] == [] and default["IpPermissionsEgress"] == []
        ours = {g["GroupName"]: g for g in groups if g["VpcId"] == vpc and g["GroupName"] != "default"}
        # Name prefixes, not fixed names: create_before_destroy can make a replacement next to the old group.
        assert all(name.startswith("tiers-emu-") and len(name) > len("tiers-emu-cache-") for name in ours)
        cache = next(g for n, g in ours.items() if n.startswith("tiers-emu-cache-"))
        web = next(g for n, g in ours.items() if n.startswith("tiers-emu-web-"))
        into_cache = [
            (p["FromPort"], [u["GroupId"] for u in p["UserIdGroupPairs"]]) for p in cache["IpPermissions"]
        ]
        assert any(port == 11211 and web["GroupId"] in sources for port, sources in into_cache), into_cache
    finally:
        destroyed = tf_tools.run(
            ["destroy", "-auto-approve", "-input=false", "-no-color"], root, tf_env, timeout=300
        )
        assert destroyed.returncode == 0, destroyed.stdout[-3000:] + destroyed.stderr
