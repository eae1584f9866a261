"""`make help` names every target of the Makefile (an operator finds a verb there or nowhere)."""

from __future__ import annotations

import re
import subprocess

from deploy.model.paths import REPO


def test_help_names_every_target() -> None:
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M)) - {"help"}
    out = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=REPO, capture_output=True, text=True, check=True
    )
    missing = sorted(t for t in targets if not re.search(rf"make {re.escape(t)}\b", out.stdout))
    assert not missing, f"make help does not mention: {', '.join(missing)}"
