"""Fixtures shared by the unit tests that run terraform (tests/unit/tf_tools.py)."""

from __future__ import annotations

import pytest

from tests.unit import tf_tools


@pytest.fixture(scope="session")
def tf_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """terraform's environment (the local mirror, one plugin cache) after one init of every root."""
    env = tf_tools.cli_env(tmp_path_factory.mktemp("terraform"))
    for root in tf_tools.ROOTS:
        tf_tools.init(root, env)
    return env
