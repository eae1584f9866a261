"""Jinja2 environment for the config templates kept beside each tier (haproxy/, nginx/, db/, deploy/templates/)."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

from ..model.paths import REPO


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REPO)),
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(template: str, **context: Any) -> str:
    """Render ``template`` (a path relative to the repository root)."""
    return _env().get_template(template).render(**context)
