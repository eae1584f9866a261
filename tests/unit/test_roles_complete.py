"""Every role is declared whole, and everything generated from the registry is in step with it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from deploy.model.paths import REPO
from deploy.model.units import RESTART
from deploy.render.systemd import render_unit
from deploy.roles import REGISTRY, ROLES, load
from deploy.roles.base import RenderContext, Role
from deploy.roles.nodes import program_for
from deploy.roles.terraform import flows, render_roles_tf_json
from tests.unit.fixtures import PATHS, SECRETS, small

# A role module is one that declares `ROLE = Role(`: every one must be in the registry.
ROLE_MODULES = sorted(
    p.stem for p in (REPO / "deploy" / "roles").glob("*.py") if "\nROLE = Role(" in p.read_text()
)
TOPOLOGIES = sorted((REPO / "deploy" / "topologies").glob("*.toml"))


def test_every_role_module_is_registered_once() -> None:
    assert sorted(r.name for r in REGISTRY) == ROLE_MODULES
    assert len(ROLES) == len(REGISTRY)


@pytest.mark.parametrize("role", REGISTRY, ids=lambda r: r.name)
def test_declaration_is_complete(role: Role) -> None:
    assert role.summary and role.priority > 0
    assert "address" in role.schema.keys
    assert callable(role.program) and callable(role.status) and callable(role.files) and callable(role.dirs)
    assert role.terraform.host_group
    assert set(role.terraform.instances_in) <= set(role.terraform.exists_in)
    assert role.reload == RESTART or re.fullmatch(r"[A-Z0-9]+", role.reload)
    # Every role is reachable by some security-group row (or from the internet) or reaches others.
    rows = flows().values()
    assert role.terraform.public or any(role.name in (f["from"], f["to"]) for f in rows)


def test_every_ingress_row_names_a_known_role_and_port() -> None:
    for role in REGISTRY:
        for flow in role.ingress:
            assert flow.source in ROLES, f"{role.name}: unknown source role {flow.source}"
            assert flow.port_key in role.schema.listener_keys(), f"{role.name}: {flow.port_key} is no port"


def test_terraform_table_is_rendered_from_the_registry() -> None:
    committed = (REPO / "terraform" / "roles.tf.json").read_text()
    assert committed == render_roles_tf_json(), "run `.venv/bin/python -m deploy terraform-roles`"


def test_terraform_has_a_topology_section_and_host_group_for_every_role() -> None:
    main = (REPO / "terraform" / "main.tf").read_text()
    listed = re.search(r"^\s*roles\s*=\s*\[([^\]]*)\]", main, re.M)
    for role in REGISTRY:
        assert listed and f'"{role.name}"' in listed.group(1), (
            f"{role.name}: not in the topology's roles in main.tf"
        )
        assert re.search(rf"^\s+{role.name}\s*=", main, re.M), f"{role.name}: no nodes in local.topology"
        assert re.search(rf'^module "{role.terraform.host_group}"', main, re.M), (
            f"{role.name}: no module {role.terraform.host_group!r} in terraform/main.tf"
        )


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.name)
def test_topology_files_have_every_role(path: Path) -> None:
    topo = load(path)
    assert {n.role for n in topo} == set(ROLES)


def test_bootstrap_installs_every_local_role_package() -> None:
    script = (REPO / "deploy" / "bootstrap.sh").read_text()
    for role in REGISTRY:
        if role.binaries:  # roles whose programs run from Debian's binaries locally
            for pkg in role.packages:
                assert re.search(rf"(^|\s){re.escape(pkg)}(\s|$)", script, re.M), f"{role.name}: {pkg}"


# The reload policy, pinned: a config change must never restart the Patroni leader (a failover) or drop
# the LB's or media host's connections.
RELOADS = {"lb": "USR2", "db": "HUP", "media": "HUP", "pgbouncer": "HUP"}


@pytest.mark.parametrize("role", REGISTRY, ids=lambda r: r.name)
def test_reload_policy_reaches_supervisord_and_systemd(role: Role) -> None:
    assert role.reload == RELOADS.get(role.name, RESTART)
    topo = small()
    node = topo.by_role(role.name)[0]
    program = program_for(RenderContext(topo, PATHS, SECRETS), node)
    assert program.reload == role.reload
    unit = render_unit(program, "mini")
    if role.reload == RESTART:
        assert "ExecReload" not in unit
    else:
        assert f"\nExecReload=/bin/kill -{role.reload} $MAINPID\n" in unit


def test_security_group_table_exact() -> None:
    table = {k: (v["from"], v["to"], v["port"], tuple(v["modes"])) for k, v in flows().items()}
    assert table == {
        "lb-web-8000": ("lb", "web", 8000, ("patroni", "rds")),
        "lb-web-8001": ("lb", "web", 8001, ("patroni", "rds")),
        "lb-queue-8000": ("lb", "queue", 8000, ("patroni", "rds")),
        "lb-queue-8001": ("lb", "queue", 8001, ("patroni", "rds")),
        "queue-db-5432": ("queue", "db", 5432, ("patroni", "rds")),
        "queue-dbproxy-5432": ("queue", "dbproxy", 5432, ("patroni",)),
        "queue-cache-11211": ("queue", "cache", 11211, ("patroni", "rds")),
        "queue-s3-8333": ("queue", "s3", 8333, ("patroni", "rds")),
        "web-db-5432": ("web", "db", 5432, ("patroni", "rds")),
        "worker-db-5432": ("worker", "db", 5432, ("patroni", "rds")),
        "dbproxy-db-5432": ("dbproxy", "db", 5432, ("patroni",)),
        "dbproxy-db-8008": ("dbproxy", "db", 8008, ("patroni",)),
        "pgbouncer-db-5432": ("pgbouncer", "db", 5432, ("patroni",)),
        "db-db-5432": ("db", "db", 5432, ("patroni",)),
        "db-db-8008": ("db", "db", 8008, ("patroni",)),
        "db-etcd-2379": ("db", "etcd", 2379, ("patroni",)),
        "etcd-etcd-2379": ("etcd", "etcd", 2379, ("patroni",)),
        "etcd-etcd-2380": ("etcd", "etcd", 2380, ("patroni",)),
        "web-dbproxy-5432": ("web", "dbproxy", 5432, ("patroni",)),
        "worker-dbproxy-5432": ("worker", "dbproxy", 5432, ("patroni",)),
        "pgbouncer-dbproxy-5432": ("pgbouncer", "dbproxy", 5432, ("patroni",)),
        "web-pgbouncer-6432": ("web", "pgbouncer", 6432, ("patroni",)),
        "worker-pgbouncer-6432": ("worker", "pgbouncer", 6432, ("patroni",)),
        "queue-pgbouncer-6432": ("queue", "pgbouncer", 6432, ("patroni",)),
        "web-cache-11211": ("web", "cache", 11211, ("patroni", "rds")),
        "worker-cache-11211": ("worker", "cache", 11211, ("patroni", "rds")),
        "web-s3-8333": ("web", "s3", 8333, ("patroni", "rds")),
        "worker-s3-8333": ("worker", "s3", 8333, ("patroni", "rds")),
        "media-s3-8333": ("media", "s3", 8333, ("patroni", "rds")),
        "db-s3-8334": ("db", "s3", 8334, ("patroni",)),
    }
    assert json.loads(render_roles_tf_json())["locals"]["tiers_flows"].keys() == table.keys()
