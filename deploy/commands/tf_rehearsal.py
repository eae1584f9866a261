"""`make tf-rehearsal`: apply a Terraform example against moto's AWS emulator, end to end but offline.

Starts moto's server on a loopback address (never 127.0/127.1, the make-up and CI clusters), copies
terraform/ to a scratch folder and adds a rehearsal-only override file there (endpoints and fake keys:
the real configuration never holds them), applies terraform/examples/minimal (Patroni mode, no RDS
polling; TIERS_REHEARSAL_MODE=rds for the RDS shape), turns `terraform output -json` into a topology
with `topology from-terraform`, runs node-install of every node the cluster's own hosts run (files
only), destroys, and prints the topology.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..clients.probes import wait_for
from ..model.paths import REPO
from .tf_topology import from_terraform

HOST = os.environ.get("TIERS_MOTO_HOST", "127.3.9.9")
PORT = int(os.environ.get("TIERS_MOTO_PORT", "5055"))
MIRROR = os.environ.get("TIERS_TF_MIRROR", "/opt/tf-plugins")
SERVICES = ("ec2", "iam", "s3", "rds", "elasticache", "secretsmanager", "ssm", "sts")
REGION = "eu-west-1"
# patroni (default): no RDS polling; rds: RDS writer and replica (about 90 s more, FIELD-NOTES).
MODE = os.environ.get("TIERS_REHEARSAL_MODE", "patroni")


# moto creates an RDS read replica it then cannot find again (describe by its identifier fails), so the
# RDS rehearsal runs the writer alone.
RDS_REPLICAS_OVERRIDE = """
module "tiers" {
  db_replica_count = 0 # moto loses its read replicas
}
"""


def override(endpoint: str) -> str:
    endpoints = "".join(f'    {s} = "{endpoint}"\n' for s in SERVICES)
    return (RDS_REPLICAS_OVERRIDE if MODE == "rds" else "") + (
        "# Rehearsal only (deploy/commands/tf_rehearsal.py): every AWS call goes to moto on loopback.\n"
        'provider "aws" {\n'
        '  access_key = "rehearsal"\n  secret_key = "rehearsal"\n'
        "  skip_credentials_validation = true\n  skip_requesting_account_id  = true\n"
        "  skip_metadata_api_check     = true\n  s3_use_path_style           = true\n"
        "  max_retries                 = 1 # an API moto lacks fails at once, not after minutes of retries\n"
        f"  endpoints {{\n{endpoints}  }}\n}}\n"
    )


class RehearsalError(RuntimeError):
    pass


def terraform(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    out = subprocess.run(
        ["terraform", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise RehearsalError(f"terraform {args[0]} failed:\n{out.stdout[-4000:]}{out.stderr[-4000:]}")
    return out.stdout


# moto reports no ElastiCache node addresses (the real service always does): name them in the scratch
# copy's cache module, rehearsal only, so the topology has its [cache] nodes.
CACHE_NODES_OVERRIDE = """# Rehearsal only (deploy/commands/tf_rehearsal.py): moto lists no cache nodes.
output "nodes" {
  value = [for i in range(var.node_count) : {
    name = "cache${i + 1}", port = 11211
    address = "${aws_elasticache_cluster.this.cluster_id}.000${i + 1}.rehearsal.cache.amazonaws.com"
  }]
}
"""


def moto_ami(endpoint: str) -> str:
    import boto3

    ec2 = boto3.client(
        "ec2", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="r", aws_secret_access_key="r"
    )
    return ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]


def cluster_secret(endpoint: str, arn: str) -> str:
    import boto3

    sm = boto3.client(
        "secretsmanager",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="r",
        aws_secret_access_key="r",
    )
    return sm.get_secret_value(SecretId=arn)["SecretString"]


def rehearse(work: Path, endpoint: str) -> str:
    tf = work / "terraform"
    shutil.copytree(REPO / "terraform", tf, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    example = tf / "examples" / "minimal"
    (example / "rehearsal_override.tf").write_text(override(endpoint))
    (tf / "modules" / "cache" / "rehearsal_override.tf").write_text(CACHE_NODES_OVERRIDE)
    rc = work / "terraformrc"
    rc.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{MIRROR}"\n  }}\n}}\n')
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(rc), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    tfvars = [
        "-var", f"region={REGION}", "-var", "bucket_prefix=tiers-rehearsal", "-var", f"database_mode={MODE}",
        "-var", "release_repo=https://git.example.org/tiers.git", "-var", f"ami_id={moto_ami(endpoint)}",
    ]  # fmt: skip
    terraform(["init", "-input=false", "-no-color"], example, env)
    started = time.monotonic()
    try:
        terraform(["apply", "-auto-approve", "-input=false", "-no-color", *tfvars], example, env)
        print(f"applied in {time.monotonic() - started:.0f} s", file=sys.stderr)
        outputs = terraform(["output", "-json"], example, env)
        toml_path = work / "topology.toml"
        cli = [sys.executable, "-m", "deploy"]
        subprocess.run(
            [*cli, "topology", "from-terraform", "-o", str(toml_path)], input=outputs, text=True, check=True
        )
        text, topo = from_terraform(outputs)
        secrets_file = work / "secrets.json"
        state = subprocess.run(
            ["terraform", "state", "show", "-no-color", "module.tiers.aws_secretsmanager_secret.cluster"],
            cwd=example,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        arn = next(line.split('"')[1] for line in state.splitlines() if line.strip().startswith("arn "))
        secrets_file.write_text(cluster_secret(endpoint, arn))
        for node in topo:
            if node.managed:
                continue
            subprocess.run(
                [*cli, "-t", str(toml_path), "node-install", node.name, "--no-enable", "--state", str(work / "state"),
                 "--systemd-dir", str(work / "systemd"), "--secrets", str(secrets_file)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            print(f"node-install {node.name}: rendered", file=sys.stderr)
        return text
    except (RehearsalError, subprocess.CalledProcessError) as exc:
        print(f"rehearsal failed: {exc}\n{getattr(exc, 'stderr', '') or ''}", file=sys.stderr)
        raise
    finally:
        # moto never finishes deleting an ElastiCache cluster ("deleting" for ever), and then fails to
        # delete its subnet group: forget both, the emulator goes away with everything in it.
        for address in ("aws_elasticache_cluster.this", "aws_elasticache_subnet_group.this"):
            with contextlib.suppress(RehearsalError):  # not in the state when the apply failed before it
                terraform(["state", "rm", f"module.tiers.module.cache.{address}"], example, env)
        terraform(["destroy", "-auto-approve", "-input=false", "-no-color", *tfvars], example, env)
        print("destroyed", file=sys.stderr)


def _listening(host: str, port: int) -> bool | None:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return None


def main() -> int:
    endpoint = f"http://{HOST}:{PORT}"
    moto = shutil.which("moto_server", path=str(REPO / ".tools" / "bin"))
    if moto is None:
        print(
            "moto is not installed in .tools: run `TIERS_TEST_TOOLS=1 bash deploy/bootstrap.sh`",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="tiers-rehearsal-") as tmp:
        work = Path(tmp)
        log = (work / "moto.log").open("w")
        # AWS's managed IAM policies (AmazonSSMManagedInstanceCore) exist in moto only when asked for.
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
        server = subprocess.Popen(
            [moto, "-H", HOST, "-p", str(PORT)], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        try:
            wait_for(lambda: _listening(HOST, PORT), f"moto on {endpoint}", 30)
            print(rehearse(work, endpoint), end="")
        finally:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:  # its development server may ignore SIGTERM while serving
                server.kill()
                server.wait(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
