"""The role registry's Terraform table (terraform/roles.tf.json) against the Terraform that reads it.

The registry (deploy/roles/) generates roles.tf.json: `tiers_roles` (per role: the root module's
`module "<host_group>"` placing it, the database modes it exists in...) and `tiers_flows` (the
security-group table). Whether that file matches the Python registry is checked on the registry's side;
this file checks, offline, that the rest of terraform/ can use it: every role has a place in the topology
template and a module in main.tf, every role takes part in some flow, and every flow joins known roles in
modes where both ends exist. Each check is a function returning its findings, run on the real files and
on copies with one defect seeded, so a check that stopped finding anything would fail too.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deploy.roles import loads
from tests.unit.test_terraform import needs_terraform, render
from tests.unit.tf_tools import TF

ROLES_JSON = TF / "roles.tf.json"
ROOT_MAIN = TF / "main.tf"
MODES = ("patroni", "rds")
# The registry's object store: S3 itself on AWS, reached by the roles with reaches_s3 (see main.tf).
OBJECT_STORE = "s3"

Roles = dict[str, dict[str, Any]]
Flows = dict[str, dict[str, Any]]


def registry() -> tuple[Roles, Flows]:
    local = json.loads(ROLES_JSON.read_text())["locals"]
    return local["tiers_roles"], local["tiers_flows"]


# --- the checks: each returns what is wrong (empty when all is well) -----------------------------------


def roles_missing_from_template(roles: Roles, main_tf: str) -> list[str]:
    """The template writes the roles main.tf lists for it (`roles = [...]`), each from local.topology's nodes."""
    listed = re.search(r"^\s*roles\s*=\s*\[([^\]]*)\]", main_tf, re.M)
    sections = set(re.findall(r'"([a-z][a-z0-9_]*)"', listed.group(1))) if listed else set()
    return [
        f"role {r!r} has no [{r}.<name>] section in the topology template" for r in roles if r not in sections
    ]


def roles_without_host_group(roles: Roles, main_tf: str) -> list[str]:
    modules = set(re.findall(r'^module\s+"([^"]+)"\s*\{', main_tf, re.M))
    return [
        f"role {r!r}: host_group {spec['host_group']!r} names no module block in terraform/main.tf"
        for r, spec in roles.items()
        if spec["host_group"] not in modules
    ]


def roles_without_flows(roles: Roles, flows: Flows) -> list[str]:
    used = {f["from"] for f in flows.values()} | {f["to"] for f in flows.values()}
    return [f"role {r!r} appears in no tiers_flows row" for r in roles if r not in used]


def flows_with_unknown_roles(roles: Roles, flows: Flows) -> list[str]:
    return [
        f"flow {name!r}: {end} role {f[end]!r} is not in tiers_roles"
        for name, f in flows.items()
        for end in ("from", "to")
        if f[end] not in roles
    ]


def flows_outside_their_roles_modes(roles: Roles, flows: Flows) -> list[str]:
    out = []
    for name, f in flows.items():
        if f["from"] not in roles or f["to"] not in roles:
            continue  # reported by flows_with_unknown_roles
        both = set(roles[f["from"]]["exists_in"]) & set(roles[f["to"]]["exists_in"])
        if extra := sorted(set(f["modes"]) - both):
            out.append(f"flow {name!r}: modes {extra} where {f['from']!r} or {f['to']!r} does not exist")
    return out


def s3_egress_disagrees_with_flows(roles: Roles, flows: Flows) -> list[str]:
    """On AWS the rows to the object store become S3 egress for the roles with reaches_s3 (and are then
    dropped from the security-group table): the two must name the same roles."""
    by_flows = {f["from"] for f in flows.values() if f["to"] == OBJECT_STORE}
    by_flag = {r for r, spec in roles.items() if spec["reaches_s3"]}
    return [
        f"role {r!r}: reaches_s3 is {r in by_flag} but it {'has' if r in by_flows else 'has no'} flow to {OBJECT_STORE!r}"
        for r in sorted(by_flows ^ by_flag)
    ]


def roles_with_inconsistent_modes(roles: Roles, _flows: Flows) -> list[str]:
    out = []
    for r, spec in roles.items():
        if bad := sorted(set(spec["exists_in"]) - set(MODES)):
            out.append(f"role {r!r}: exists_in names unknown modes {bad}")
        if extra := sorted(set(spec["instances_in"]) - set(spec["exists_in"])):
            out.append(f"role {r!r}: runs on instances in {extra}, where it does not exist")
    return out


TABLE_CHECKS: tuple[Callable[[Roles, Flows], list[str]], ...] = (
    roles_without_flows,
    flows_with_unknown_roles,
    flows_outside_their_roles_modes,
    s3_egress_disagrees_with_flows,
    roles_with_inconsistent_modes,
)


# --- the real files ----------------------------------------------------------------------------------


def test_the_table_has_every_role_and_flow_field() -> None:
    roles, flows = registry()
    assert len(roles) >= 9 and len(flows) >= 10, "roles.tf.json looks truncated"
    role_fields = {"host_group", "exists_in", "instances_in", "packages", "debian_units", "secrets"}
    role_fields |= {"public", "reaches_s3"}
    for name, spec in roles.items():
        assert role_fields <= set(spec), f"role {name!r} lacks {sorted(role_fields - set(spec))}"
    for name, f in flows.items():
        assert {"from", "to", "port", "modes", "why"} <= set(f), f"flow {name!r} is incomplete"
        assert isinstance(f["port"], int) and 1 <= f["port"] <= 65535, f"flow {name!r}: bad port"


def test_every_role_has_a_topology_section() -> None:
    roles, _ = registry()
    problems = roles_missing_from_template(roles, ROOT_MAIN.read_text())
    assert not problems, "\n".join(problems)


def test_every_host_group_is_a_root_module() -> None:
    roles, _ = registry()
    problems = roles_without_host_group(roles, ROOT_MAIN.read_text())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("check", TABLE_CHECKS, ids=lambda c: c.__name__)
def test_the_flow_table_is_consistent(check: Callable[[Roles, Flows], list[str]]) -> None:
    problems = check(*registry())
    assert not problems, "\n".join(problems)


def test_the_network_module_names_no_role() -> None:
    """The security groups and their rules come from the table only: no hand-written role list is left
    in modules/network (moved.tf, which maps old rule keys to the table's, excepted)."""
    roles, _ = registry()
    text = (TF / "modules" / "network" / "main.tf").read_text()
    text = re.sub(r'^[a-z_]+(\s+"[^"]*")+\s*\{', "{", text, flags=re.M)  # block labels are not role names
    named = sorted(r for r in roles if re.search(rf'"{re.escape(r)}"', text))
    assert not named, f"modules/network/main.tf still names roles {named}: pass them from the table"


# --- the checks catch seeded defects -----------------------------------------------------------------


def _seed(edit: Callable[[Roles, Flows], None]) -> tuple[Roles, Flows]:
    roles, flows = copy.deepcopy(registry())
    edit(roles, flows)
    return roles, flows


SEEDED: dict[str, tuple[Callable[[Roles, Flows], None], Callable[[Roles, Flows], list[str]], str]] = {
    "role without flows": (
        lambda roles, flows: roles.update(spare=dict(roles["worker"], reaches_s3=False)),
        roles_without_flows,
        "'spare' appears in no tiers_flows row",
    ),
    "flow from an unknown role": (
        lambda roles, flows: flows.update(
            x={"from": "ghost", "to": "db", "port": 1, "modes": ["rds"], "why": ""}
        ),
        flows_with_unknown_roles,
        "from role 'ghost' is not in tiers_roles",
    ),
    "flow to an unknown role": (
        lambda roles, flows: flows["lb-web-8000"].update(to="webb"),
        flows_with_unknown_roles,
        "to role 'webb' is not in tiers_roles",
    ),
    "flow in a mode its target lacks": (
        lambda roles, flows: flows["web-dbproxy-5432"].update(modes=["patroni", "rds"]),
        flows_outside_their_roles_modes,
        "flow 'web-dbproxy-5432': modes ['rds']",
    ),
    "flow in a mode its source lacks": (
        lambda roles, flows: roles["etcd"].update(exists_in=["rds"], instances_in=["rds"]),
        flows_outside_their_roles_modes,
        "flow 'db-etcd-2379': modes ['patroni']",
    ),
    "S3 flow without reaches_s3": (
        lambda roles, flows: roles["media"].update(reaches_s3=False),
        s3_egress_disagrees_with_flows,
        "role 'media': reaches_s3 is False",
    ),
    "instances where the role does not exist": (
        lambda roles, flows: roles["etcd"].update(instances_in=["patroni", "rds"]),
        roles_with_inconsistent_modes,
        "role 'etcd': runs on instances in ['rds']",
    ),
}


@pytest.mark.parametrize("case", SEEDED)
def test_a_seeded_table_defect_is_reported(case: str) -> None:
    edit, check, expected = SEEDED[case]
    problems = check(*_seed(edit))
    assert any(expected in p for p in problems), f"{check.__name__} missed it: {problems}"


def test_a_role_without_a_topology_section_is_reported() -> None:
    roles, _ = registry()
    main_tf = ROOT_MAIN.read_text().replace(', "worker"]', "]")
    assert roles_missing_from_template(roles, main_tf) == [
        "role 'worker' has no [worker.<name>] section in the topology template"
    ]


def test_a_host_group_without_a_module_is_reported() -> None:
    roles, _ = registry()
    main_tf = ROOT_MAIN.read_text().replace('module "worker" {', 'module "workers" {')
    assert roles_without_host_group(roles, main_tf) == [
        "role 'worker': host_group 'worker' names no module block in terraform/main.tf"
    ]


# --- the template, rendered by the real terraform --------------------------------------------------------

# local.topology's shape (terraform/main.tf) in Patroni mode, with addresses a mock provider cannot invent.
TOPOLOGY = """{
  cluster = { name = "tiers-prod", profile = "production" }
  database = { name = "tiers", user = "tiers", max_replica_lag_bytes = 1048576, max_replica_lag_seconds = 5,
               patroni_ttl = 30, patroni_loop_wait = 10, patroni_retry_timeout = 10, synchronous_mode = false,
               client_networks = ["10.40.128.0/20", "10.40.144.0/20"] }
  storage = { media_bucket = "acme-media", static_bucket = "acme-static", private_bucket = "acme-private",
              backup_bucket = "acme-backup", region = "eu-west-1", addressing_style = "path",
              endpoint_url = "https://s3.eu-west-1.amazonaws.com" }
  email = { host = "email-smtp.eu-west-1.amazonaws.com", user = "AKIAEXAMPLE" }
  nodes = {
    lb = [{ name = "lb", address = "10.40.0.10", port = 80, https_port = 443, public_host = "203.0.113.10" }]
    web = [{ name = "web1", address = "10.40.128.10", port = 8000 }, { name = "web2", address = "10.40.144.11", port = 8000 }]
    queue = [{ name = "queue1", address = "10.40.128.15", port = 8000, check_port = 8001 }]
    db = [{ name = "db1", address = "10.40.128.20", role = "primary", replica_of = null, managed = null },
          { name = "db2", address = "10.40.144.21", role = "replica", replica_of = "db1", managed = null }]
    etcd = [{ name = "etcd1", address = "10.40.128.30" }]
    dbproxy = [{ name = "dbproxy", address = "10.40.128.40" }]
    pgbouncer = [{ name = "pgbouncer", address = "10.40.128.41", port = 6432 }]
    cache = [{ name = "cache1", address = "c.0001.euw1.cache.amazonaws.com", port = 11211, managed = true }]
    s3 = [{ name = "s3", address = "s3.eu-west-1.amazonaws.com", port = 443, managed = true }]
    media = [{ name = "media", address = "10.40.0.20", port = 80, https_port = 443,
               public_url = "https://203.0.113.20", resolver = "169.254.169.253" }]
    worker = [{ name = "worker1", address = "10.40.128.60" }, { name = "worker2", address = "10.40.144.61" }]
  }
}"""


@needs_terraform
def test_topology_template_writes_a_valid_topology_of_every_role(tmp_path: Path, tf_env: dict) -> None:
    roles = re.search(r"^\s*roles\s*=\s*(\[[^\]]*\])", ROOT_MAIN.read_text(), re.M).group(1)
    text = render("topology.toml.tftpl", f"{{ topology = {TOPOLOGY}, roles = {roles} }}", tmp_path, tf_env)
    topo = loads(text, "terraform")
    assert topo.storage.private_bucket == "acme-private"
    assert topo.storage.backup_bucket == "acme-backup"
    assert (topo.email.host, topo.email.user) == ("email-smtp.eu-west-1.amazonaws.com", "AKIAEXAMPLE")
    assert topo.database.client_networks == ("10.40.128.0/20", "10.40.144.0/20")
    assert [(n.name, n.address) for n in topo.by_role("worker")] == [
        ("worker1", "10.40.128.60"),
        ("worker2", "10.40.144.61"),
    ]
    assert [n.name for n in topo.managed()] == ["cache1", "s3"]
    assert topo.node("db2").opt("replica_of") == "db1" and topo.node("db1").opt("replica_of") == ""
    assert topo.one("lb").opt("public_host") == "203.0.113.10"
    assert {n.role for n in topo} == set(registry()[0]), "a node of every registry role"
