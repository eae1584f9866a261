"""`python -m deploy topology from-terraform`: the topology an applied Terraform configuration published.

Terraform renders the topology (terraform/templates/topology.toml.tftpl) into the SSM parameter hosts read
and into its ``topology_toml`` output. This reads ``terraform output -json``, takes that output and
validates it with the role registry, so the operator's copy is the hosts' copy and a bad one is refused.
"""

from __future__ import annotations

import json
from typing import Any

from ..model.topology import Topology, TopologyError
from ..roles import loads

OUTPUT = "topology_toml"


def from_terraform(outputs_json: str, source: str = "terraform output -json") -> tuple[str, Topology]:
    """(TOML text, validated topology) from ``terraform output -json``'s text; TopologyError if unusable."""
    try:
        outputs: Any = json.loads(outputs_json)
    except ValueError as exc:
        raise TopologyError(
            f"{source}: not JSON ({exc}); pass what `terraform output -json` prints"
        ) from None
    if not isinstance(outputs, dict):
        raise TopologyError(f"{source}: expected an object of outputs, got {type(outputs).__name__}")
    if OUTPUT not in outputs:
        have = ", ".join(sorted(outputs)) or "none"
        raise TopologyError(
            f"{source}: no output {OUTPUT!r} (outputs: {have}); apply a root module that outputs "
            "module.tiers.topology_toml, like terraform/examples/minimal"
        )
    entry = outputs[OUTPUT]
    text = entry.get("value") if isinstance(entry, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise TopologyError(f"{source}: output {OUTPUT!r} is empty: has `terraform apply` finished?")
    return text, loads(text, source=f"{source} ({OUTPUT})")
