"""Static checks of terraform/ that run offline (no provider download, no AWS).

`terraform validate` needs the providers from the registry, which this machine cannot reach, so these
tests cover what can be checked without them: formatting, the module structure, every variable typed
and described, module calls that match the called module's variables and outputs, and the two
templates (topology and user_data) rendered by the real `terraform` binary and checked by the real
consumers (`deploy.roles.loads`, `bash -n`).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.roles import loads
from deploy.roles.db import primary, replicas

REPO = Path(__file__).resolve().parents[2]
TF = REPO / "terraform"
MODULES = ("network", "web", "database", "cache", "storage", "lb")
TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform binary not installed")
# No ~/.terraformrc here: point the CLI at an empty config so it does not warn on every call.
TF_ENV = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"}


# --- a small HCL block reader ------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    kind: str  # variable, output, module, resource...
    labels: tuple[str, ...]
    body: str  # text between the braces
    path: Path

    def attributes(self) -> set[str]:
        """Names of the body's top-level attributes (`name = ...`), nested blocks excluded."""
        names = set()
        for line in _top_level_lines(self.body):
            m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=(?!=)", line)
            if m:
                names.add(m.group(1))
        return names

    def nested_blocks(self) -> set[str]:
        return {m.group(1) for line in _top_level_lines(self.body) if (m := re.match(r"\s*(\w+)\s*\{", line))}

    def attribute(self, name: str) -> str | None:
        for line in _top_level_lines(self.body):
            m = re.match(rf"\s*{name}\s*=\s*(.+)$", line)
            if m:
                return m.group(1).strip()
        return None


def _skip_string(text: str, i: int) -> int:
    """``text[i]`` is an opening quote: return the index after the closing one (``${...}`` may nest)."""
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if text.startswith("${", i) or text.startswith("%{", i):
            i = _skip_braces(text, i + 1)
            continue
        i += 1
    raise ValueError("unterminated string")


def _skip_braces(text: str, i: int) -> int:
    """``text[i]`` is ``{``: return the index after its matching ``}``, skipping strings and comments."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            i = _skip_string(text, i)
            continue
        if c == "#" or text.startswith("//", i):
            i = text.find("\n", i)
            if i < 0:
                raise ValueError("unbalanced braces")
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced braces")


def _top_level_lines(body: str) -> list[str]:
    """Lines of a block body at nesting depth 0 (the opening line of a nested block included)."""
    out, i = [], 0
    while i < len(body):
        end = body.find("\n", i)
        end = len(body) if end < 0 else end
        line = body[i:end]
        out.append(line)
        brace = _first_open_brace(line)
        if brace is not None:
            end = max(end, _skip_braces(body, i + brace))
        i = end + 1
    return out


def _first_open_brace(line: str) -> int | None:
    i = 0
    while i < len(line):
        c = line[i]
        if c == '"':
            i = _skip_string(line, i)
            continue
        if c == "#":
            return None
        if c == "{":
            # A brace closed on the same line (`{}`, `{ a = 1 }`) does not open a nested block.
            try:
                _skip_braces(line, i)
            except ValueError:
                return i
        i += 1
    return None


BLOCK_RE = re.compile(r'^([a-z_]+)((?:\s+"[^"]*")*)\s*\{', re.M)


def blocks_of(text: str, path: Path = Path("<text>")) -> list[Block]:
    """Top-level blocks of one .tf file."""
    out, i = [], 0
    while True:
        m = BLOCK_RE.search(text, i)
        if not m:
            return out
        open_at = m.end() - 1
        close = _skip_braces(text, open_at)
        labels = tuple(re.findall(r'"([^"]*)"', m.group(2)))
        out.append(Block(m.group(1), labels, text[open_at + 1 : close - 1], path))
        i = close


def tf_files(under: Path = TF) -> list[Path]:
    return sorted(p for p in under.rglob("*.tf") if ".terraform" not in p.parts)


def blocks(kind: str, under: Path = TF) -> list[Block]:
    return [b for p in tf_files(under) for b in blocks_of(p.read_text(), p) if b.kind == kind]


def module_dirs() -> list[Path]:
    """Every directory holding .tf files: the root, each module and each example."""
    return sorted({p.parent for p in tf_files()})


# --- the reader itself ---------------------------------------------------------------------------------


def test_reader_finds_blocks_attributes_and_nested_blocks() -> None:
    text = (
        'variable "a" {\n  type = string\n  description = "x { y"  # not a brace\n'
        '  validation {\n    condition = var.a != "${"}"}"\n    error_message = "bad"\n  }\n}\n'
        'output "o" {\n  value = { k = "v" }\n}\n'
    )
    found = blocks_of(text)
    assert [(b.kind, b.labels) for b in found] == [("variable", ("a",)), ("output", ("o",))]
    assert found[0].attributes() == {"type", "description"}
    assert found[0].nested_blocks() == {"validation"}
    assert found[1].attributes() == {"value"}
    assert found[1].nested_blocks() == set()


# --- structure -----------------------------------------------------------------------------------------


def test_root_and_every_module_have_the_standard_files() -> None:
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (TF / name).is_file(), f"terraform/{name} is missing"
    found = sorted(p.name for p in (TF / "modules").iterdir() if p.is_dir())
    assert set(MODULES) <= set(found), f"missing modules: {set(MODULES) - set(found)}"
    for name in found:
        for file in ("main.tf", "variables.tf", "outputs.tf"):
            assert (TF / "modules" / name / file).is_file(), f"terraform/modules/{name}/{file} is missing"


def test_versions_pin_terraform_and_the_aws_provider() -> None:
    text = (TF / "versions.tf").read_text()
    assert re.search(r'required_version\s*=\s*">=\s*1\.6"', text)
    aws = re.search(
        r'aws\s*=\s*\{[^}]*source\s*=\s*"hashicorp/aws"[^}]*version\s*=\s*"~>\s*5\.[0-9.]*"', text
    )
    assert aws, "hashicorp/aws must be pinned to ~> 5.x"
    assert re.search(r'source\s*=\s*"hashicorp/random"', text)


def test_minimal_example_calls_the_root_module() -> None:
    example = TF / "examples" / "minimal"
    calls = blocks("module", example)
    assert [b.attribute("source") for b in calls] == ['"../.."']
    assert (example / "versions.tf").is_file()
    assert blocks("provider", example), "the example configures the aws provider for the module"


# --- variables and outputs -----------------------------------------------------------------------------


def test_every_variable_has_a_type_and_a_description() -> None:
    found = blocks("variable")
    assert len(found) > 60, "the block reader found suspiciously few variables"
    bad = [
        f"{b.path.relative_to(REPO)}: variable {b.labels[0]} lacks {sorted({'type', 'description'} - b.attributes())}"
        for b in found
        if not {"type", "description"} <= b.attributes()
    ]
    assert not bad, "\n".join(bad)


def test_every_output_has_a_description() -> None:
    found = blocks("output")
    assert len(found) > 30
    bad = [
        f"{b.path.relative_to(REPO)}: output {b.labels[0]}"
        for b in found
        if "description" not in b.attributes()
    ]
    assert not bad, "\n".join(bad)


def test_counts_and_cidrs_are_validated() -> None:
    """Variables whose value can be wrong in an obvious way carry a validation block."""
    must_validate = re.compile(r"(_count|count|_cidr|_cidrs|_gb|^name|bucket_prefix|mode)$")
    missing = [
        f"{b.path.relative_to(REPO)}: {b.labels[0]}"
        for b in blocks("variable")
        if must_validate.search(b.labels[0]) and "validation" not in b.nested_blocks()
    ]
    assert not missing, "no validation block:\n" + "\n".join(missing)


# --- cross references (what `terraform validate` would catch first) ------------------------------------


def _declared(kind: str, directory: Path) -> dict[str, Block]:
    return {
        b.labels[0]: b
        for p in sorted(directory.glob("*.tf"))
        for b in blocks_of(p.read_text(), p)
        if b.kind == kind
    }


def test_var_references_are_declared() -> None:
    for directory in module_dirs():
        declared = set(_declared("variable", directory))
        text = "".join(p.read_text() for p in directory.glob("*.tf"))
        used = set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_]*)", text))
        assert used <= declared, f"{directory.relative_to(REPO)}: undeclared {sorted(used - declared)}"
        unused = declared - used
        assert not unused, f"{directory.relative_to(REPO)}: variables never used: {sorted(unused)}"


META_ARGS = {"source", "count", "for_each", "providers", "depends_on", "version"}


def test_module_calls_pass_known_variables_and_every_required_one() -> None:
    calls = 0
    for directory in module_dirs():
        for call in _declared("module", directory).values():
            calls += 1
            source = (call.attribute("source") or "").strip('"')
            target = (directory / source).resolve()
            variables = _declared("variable", target)
            passed = call.attributes() - META_ARGS
            where = f"{directory.relative_to(REPO)}: module {call.labels[0]}"
            assert passed <= set(variables), f"{where}: unknown arguments {sorted(passed - set(variables))}"
            required = {n for n, b in variables.items() if "default" not in b.attributes()}
            assert required <= passed, f"{where}: missing required {sorted(required - passed)}"
    assert calls >= 8


def test_module_output_references_exist() -> None:
    for directory in module_dirs():
        modules = _declared("module", directory)
        text = "".join(p.read_text() for p in directory.glob("*.tf"))
        for name, attr in set(re.findall(r"\bmodule\.([a-z0-9_]+)(?:\[\d+\])?\.([a-z0-9_]+)", text)):
            assert name in modules, f"{directory.relative_to(REPO)}: no module {name!r}"
            target = (directory / (modules[name].attribute("source") or "").strip('"')).resolve()
            assert attr in _declared("output", target), f"{directory.relative_to(REPO)}: module.{name}.{attr}"


# --- the real terraform binary -------------------------------------------------------------------------


@needs_terraform
def test_terraform_fmt_check_passes() -> None:
    result = subprocess.run(
        [TERRAFORM, "fmt", "-check", "-recursive", "-diff", str(TF)],
        capture_output=True, text=True, env=TF_ENV, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


def render(template: str, hcl_vars: str, tmp_path: Path) -> str:
    """Render a terraform/templates file with the real templatefile() (offline, no providers)."""
    # The console reads one line at a time: the (multi-line) call goes into a local of a tiny config.
    path = TF / "templates" / template
    (tmp_path / "main.tf").write_text(
        f'locals {{\n  out = base64encode(templatefile("{path}", {hcl_vars}))\n}}\n'
    )
    result = subprocess.run(
        [TERRAFORM, "console"], input="local.out\n", capture_output=True, text=True,
        cwd=tmp_path, env=TF_ENV, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return base64.b64decode(result.stdout.strip().strip('"')).decode()


TOPOLOGY_VARS = """{
  cluster = "tiers-prod"
  database = { name = "tiers", user = "tiers", max_replica_lag_bytes = 1048576, max_replica_lag_seconds = 5,
               patroni_ttl = 30, patroni_loop_wait = 10, patroni_retry_timeout = 10, synchronous_mode = true,
               synchronous_mode_strict = false, synchronous_node_count = 1 }
  media_bucket = "acme-media", static_bucket = "acme-static", private_bucket = "acme-private", region = "eu-west-1"
  lb_ip = "10.40.0.10"
  web = [{ name = "web1", ip = "10.40.128.10" }, { name = "web2", ip = "10.40.144.11" }]
  web_processes = 2
  db = [{ name = "db1", ip = "10.40.128.20", role = "primary" }, { name = "db2", ip = "10.40.144.21", role = "replica" }]
  etcd = [{ name = "etcd1", ip = "10.40.128.30" }, { name = "etcd2", ip = "10.40.144.31" }, { name = "etcd3", ip = "10.40.128.32" }]
  dbproxy_ip = "10.40.128.40"
  pgbouncer_ip = "10.40.128.41"
  cache = [{ name = "cache1", host = "c.0001.euw1.cache.amazonaws.com", ip = "10.40.128.50" }]
  media_ip = "10.40.0.20"
  worker = []
}"""


@needs_terraform
def test_topology_template_renders_a_valid_production_topology(tmp_path: Path) -> None:
    topo = loads(render("topology.toml.tftpl", TOPOLOGY_VARS, tmp_path), "terraform")
    assert topo.cluster.name == "tiers-prod" and topo.cluster.profile == "production"
    assert [(n.role, n.name, n.endpoint) for n in topo] == [
        ("lb", "lb", "10.40.0.10:80"),
        ("web", "web1", "10.40.128.10:8000"),
        ("web", "web2", "10.40.144.11:8000"),
        ("db", "db1", "10.40.128.20:5432"),
        ("db", "db2", "10.40.144.21:5432"),
        ("etcd", "etcd1", "10.40.128.30:2379"),
        ("etcd", "etcd2", "10.40.144.31:2379"),
        ("etcd", "etcd3", "10.40.128.32:2379"),
        ("dbproxy", "dbproxy", "10.40.128.40:5432"),
        ("pgbouncer", "pgbouncer", "10.40.128.41:6432"),
        ("cache", "cache1", "10.40.128.50:11211"),
        ("s3", "s3", "10.40.0.20:8333"),
        ("media", "media", "10.40.0.20:80"),
    ]
    assert primary(topo).name == "db1"
    assert [(n.name, n.opt("replica_of")) for n in replicas(topo)] == [("db2", "db1")]
    assert topo.by_role("web")[0].opt("processes") == 2
    assert topo.database.patroni_ttl == 30 and topo.database.max_replica_lag_seconds == 5.0
    assert topo.storage.endpoint_url == "https://s3.eu-west-1.amazonaws.com"
    assert (topo.storage.media_bucket, topo.storage.region) == ("acme-media", "eu-west-1")
    assert topo.storage.private_bucket == "acme-private"
    assert topo.by_role("worker") == ()  # worker_count = 0 is allowed: no [worker] section at all


def user_data_vars(*, has_topology: bool, secret_id: str) -> str:
    return f"""{{
  cluster = "tiers-prod", role = "db", region = "eu-west-1"
  packages = ["postgresql-15", "postgresql-client-15"], debian_units = ["postgresql"]
  release_repo = "https://git.example.org/tiers.git", release_ref = "v1.2.3"
  has_topology = {str(has_topology).lower()}, topology_parameter = "/tiers-prod/topology.toml"
  secret_id = "{secret_id}", setup_command = "node-install"
}}"""


@needs_terraform
@pytest.mark.parametrize(
    ("has_topology", "secret_id"), [(True, "tiers-prod/secrets"), (True, ""), (False, "tiers-prod/secrets")]
)
def test_user_data_is_valid_bash_and_hands_over_to_deploy(
    tmp_path: Path, has_topology: bool, secret_id: str
) -> None:
    script = render(
        "user_data.sh.tftpl", user_data_vars(has_topology=has_topology, secret_id=secret_id), tmp_path
    )
    check = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    assert script.startswith("#!/bin/bash\n")
    assert "postgresql-15 postgresql-client-15" in script
    assert "systemctl disable --now postgresql" in script
    assert 'fetch --quiet origin "v1.2.3"' in script
    assert ("-m deploy --topology /etc/tiers/topology.toml node-install" in script) is has_topology
    assert ("secretsmanager get-secret-value" in script) is (has_topology and secret_id != "")
