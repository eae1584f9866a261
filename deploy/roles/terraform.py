"""The registry as Terraform reads it: ``terraform/roles.tf.json`` (locals ``tiers_roles``, ``tiers_flows``).

Written by ``python -m deploy terraform-roles``; tests/unit/test_roles_complete.py fails when the
committed file differs from what the registry renders, so Terraform cannot drift from the roles.
"""

from __future__ import annotations

import json

from . import REGISTRY, ROLES
from .base import Role

NOTE = (
    "Generated from the role registry (deploy/roles/) by `python -m deploy terraform-roles`; do not edit. "
    "tests/unit/test_roles_complete.py checks it is up to date."
)


def default_port(role: Role, key: str) -> int:
    kind_default = role.schema.keys[key]
    return int(kind_default[1])


def flows() -> dict[str, dict]:
    """Security-group rows: "<from>-<to>-<port>" -> from, to, port, the modes it applies in, why."""
    out: dict[str, dict] = {}
    for role in REGISTRY:
        for flow in role.ingress:
            source = ROLES[flow.source]
            port = default_port(role, flow.port_key)
            modes = [
                m for m in flow.modes if m in role.terraform.exists_in and m in source.terraform.exists_in
            ]
            out[f"{flow.source}-{role.name}-{port}"] = {
                "from": flow.source,
                "to": role.name,
                "port": port,
                "modes": modes,
                "why": flow.why,
            }
    return out


def roles() -> dict[str, dict]:
    return {
        r.name: {
            "host_group": r.terraform.host_group,
            "exists_in": list(r.terraform.exists_in),
            "instances_in": list(r.terraform.instances_in),
            "packages": list(r.packages),
            "debian_units": list(r.terraform.debian_units),
            "secrets": sorted(r.secrets),
            "public": r.terraform.public,
            "reaches_s3": r.terraform.reaches_s3,
            "release_setup": r.terraform.release_setup,
            # The ports its nodes listen on (schema defaults): the topology Terraform writes uses them,
            # so they are the ports the security-group rows above name.
            "ports": {key: default_port(r, key) for key in r.schema.listener_keys()},
        }
        for r in REGISTRY
    }


def render_roles_tf_json() -> str:
    data = {"//": NOTE, "locals": {"tiers_roles": roles(), "tiers_flows": flows()}}
    return json.dumps(data, indent=2) + "\n"
