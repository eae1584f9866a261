"""supervisord config for a local cluster: one program per node."""

from __future__ import annotations

from ..model.paths import StatePaths
from ..model.units import Program
from .templates import render


def render_supervisord(cluster: str, programs: list[Program], paths: StatePaths) -> str:
    return render("deploy/templates/supervisord.conf.j2", cluster=cluster, programs=programs, paths=paths)
