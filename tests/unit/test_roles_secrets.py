"""Least privilege: a node's files and program get exactly the secrets its role declares, and use them all."""

from __future__ import annotations

import dataclasses

import pytest

from deploy.model.secrets import Secrets, field_names, withheld
from deploy.model.topology import Node
from deploy.roles import REGISTRY, role_of
from deploy.roles.base import RenderContext
from deploy.roles.nodes import context_for, node_files, program_for
from tests.unit.fixtures import PATHS, SECRETS, fake_release, small

TOPO = small()
NODES = [TOPO.by_role(r.name)[0] for r in REGISTRY]
# A live release on every app node (before the first one they render no ini and no environment). Its
# project declares the one secret SECRETS holds a value for.
RELEASE = fake_release()


def rendered(node: Node, secrets: Secrets) -> str:
    """Everything a host of this node receives: its files, its program's command and environment, its
    role's setup commands and their input."""
    ctx = RenderContext(
        TOPO,
        PATHS,
        secrets,
        node_releases={w.name: RELEASE for w in TOPO.by_role("web")},
        worker_release=RELEASE,
    )
    program = program_for(ctx, node)
    parts = [cf.content for cf in node_files(ctx, node)]
    parts += [" ".join(program.argv), *(f"{k}={v}" for k, v in program.environment.items())]
    setup = role_of(node).setup
    ctx = context_for(ctx, node)
    parts += [f"{' '.join(c.argv)}\n{c.input}" for c in (setup(ctx, node) if setup else [])]
    return "\n".join(parts)


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.role)
def test_a_node_needs_no_secret_its_role_does_not_receive(node: Node) -> None:
    # The builders themselves filter, so even given every secret nothing outside the role's set is used.
    text = rendered(node, SECRETS)
    for name in field_names():
        if name not in role_of(node).secrets:
            assert getattr(SECRETS, name) not in text, (
                f"{node.role} renders {name}, which it does not receive"
            )
    assert "<withheld:" not in text, f"{node.role} renders a secret its role does not receive"


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.role)
def test_a_role_uses_every_secret_it_receives(node: Node) -> None:
    role = role_of(node)
    full = rendered(node, SECRETS)
    for name in role.secrets:
        without = dataclasses.replace(SECRETS, **{name: withheld(name)})
        assert rendered(node, without) != full, f"{role.name} receives {name} but renders nothing from it"


def test_only_withholds_the_rest() -> None:
    got = SECRETS.only(frozenset({"db_app_password"}))
    assert got.db_app_password == SECRETS.db_app_password
    assert got.django_secret_key == "<withheld:django_secret_key>"
    with pytest.raises(ValueError, match="no such secret"):
        SECRETS.only(frozenset({"nope"}))
