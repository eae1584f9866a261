"""Terraform's CLI and the local provider mirror, for the tests that run terraform (offline).

Nothing is downloaded: ``terraform init`` installs hashicorp/aws from the filesystem mirror this machine
image carries (FIELD-NOTES), through a CLI config written here, with a plugin cache shared by every init
of a run. Where the CLI or the mirror is absent, the tests that need them skip and say which is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TF = REPO / "terraform"
TERRAFORM = shutil.which("terraform")
# The image's mirror (<mirror>/registry.terraform.io/hashicorp/aws/<version>/<platform>/...).
MIRROR = Path(os.environ.get("TIERS_TF_MIRROR", "/opt/tf-plugins"))
ROOTS = (TF, *sorted(p for p in (TF / "examples").iterdir() if p.is_dir()))
CHECKOV = REPO / ".tools" / "bin" / "checkov"


def missing() -> str:
    """Why terraform cannot run here offline ("" when it can)."""
    if TERRAFORM is None:
        return "terraform CLI not installed (no `terraform` on PATH)"
    if not any(MIRROR.glob("registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*")):
        return f"no hashicorp/aws provider in the filesystem mirror {MIRROR} (set TIERS_TF_MIRROR)"
    return ""


def cli_env(work: Path) -> dict[str, str]:
    """The environment for terraform: the mirror only (no registry), a plugin cache under ``work``."""
    cache = work / "plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)
    rc = work / "terraformrc"
    rc.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{MIRROR}"\n  }}\n'
        '  direct {\n    exclude = ["*/*/*"]\n  }\n'
        "}\n"
        f'plugin_cache_dir = "{cache}"\n'
    )
    return {**os.environ, "TF_CLI_CONFIG_FILE": str(rc), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    assert TERRAFORM is not None
    return subprocess.run(
        [TERRAFORM, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def init(root: Path, env: dict[str, str]) -> None:
    out = run(["init", "-backend=false", "-input=false", "-no-color"], root, env)
    assert out.returncode == 0, f"terraform init in {root} failed:\n{out.stdout}{out.stderr}"
