"""Golden-file comparison for renderer output: the exact text is pinned in tests/unit/golden/.

After an intended change, regenerate with `TIERS_UPDATE_GOLDEN=1 pytest tests/unit` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def assert_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TIERS_UPDATE_GOLDEN") == "1":
        path.write_text(actual)
    assert path.exists(), f"{path} missing: run with TIERS_UPDATE_GOLDEN=1 once and review it"
    expected = path.read_text()
    assert actual == expected, f"rendered output differs from {path} (TIERS_UPDATE_GOLDEN=1 to accept)"
