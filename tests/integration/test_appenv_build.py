"""A release's Python environment, built for real (no cluster needed; PyPI and pip's wheel cache are).

The env is built in a cache under pytest's tmp folder (mode 0700: no other user can reach it), copied to
another absolute path that any user can reach, and run there as ``nobody``: the interpreter, uWSGI, and
uWSGI's embedded Python must find everything from the copy (nothing under /root, nothing in the cache).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.commands import appenv

pytestmark = pytest.mark.integration

INTEGRATION = [
    "uWSGI>=2.0.28,<2.1",
    "psycopg2-binary>=2.9.9,<2.10",
    "pymemcache>=4.0,<5",
    "django-storages[s3]>=1.14,<1.15",
    "boto3>=1.35,<2",
    "Django>=4.2,<6.1",
]
PYRUN = """import sys, django, psycopg2, pymemcache, storages, uwsgi
print("embedded", sys.prefix, django.__file__, flush=True)
"""


@pytest.fixture
def reachable() -> Iterator[Path]:
    """A folder every user can reach (pytest's own tmp folders are root's only)."""
    path = Path(tempfile.mkdtemp(prefix="tiers-appenv-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    """The env cache, under pytest's tmp folder (root's only); removed afterwards (~200 MB an env)."""
    yield tmp_path / "envs"
    shutil.rmtree(tmp_path / "envs", ignore_errors=True)


def as_nobody(*argv: str | Path, cwd: Path) -> str:
    out = subprocess.run(
        ["runuser", "-u", "nobody", "--", *map(str, argv)],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, f"{argv} as nobody failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr  # uWSGI points a script's stdout at its log, stderr


def runpath(path: Path) -> str:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    found = re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[(.*)\]", out)
    return ":".join(found)


def test_a_python312_env_runs_from_a_copy_as_an_unprivileged_user(
    tmp_path: Path, cache: Path, reachable: Path
) -> None:
    if "3.12" not in appenv.available_pythons():
        pytest.skip("no Python 3.12 on this machine")
    requirements = tmp_path / "project" / "requirements.txt"
    requirements.parent.mkdir()
    requirements.write_text("Django>=6.0,<6.1\n")

    env = appenv.ensure_env(cache, "3.12", requirements, INTEGRATION)
    assert env.parent == cache and (env / appenv.MARKER).is_file()
    built = (env / appenv.MARKER).stat().st_mtime_ns

    copy = reachable / "releases" / "v1" / "venv"
    appenv.copy_env(env, copy)
    for binary in ("python3.12", "uwsgi"):
        assert runpath(copy / "bin" / binary) == "$ORIGIN/../lib", binary

    version = as_nobody(
        copy / "bin" / "python",
        "-c",
        "import django, sys; print(django.VERSION[:2], sys.prefix)",
        cwd=reachable,
    )
    assert version.split() == ["(6,", "0)", str(copy)]
    assert re.match(r"2\.0\.\d+", as_nobody(copy / "bin" / "uwsgi", "--version", cwd=reachable))
    script = reachable / "pyrun.py"
    script.write_text(PYRUN)
    script.chmod(0o644)
    embedded = as_nobody(copy / "bin" / "uwsgi", "--pyrun", script, cwd=reachable)
    assert f"embedded {copy} {copy}/lib/python3.12/site-packages/django/__init__.py" in embedded

    # The same inputs again: the cached env, not a rebuild.
    assert appenv.ensure_env(cache, "3.12", requirements, INTEGRATION) == env
    assert (env / appenv.MARKER).stat().st_mtime_ns == built


def test_a_requirement_that_does_not_exist_names_the_file(tmp_path: Path, cache: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Django>=5.2,<5.3\ntiers-no-such-package-3f9c1e==1.0\n")
    with pytest.raises(appenv.EnvError) as err:
        appenv.ensure_env(cache, "3.11", requirements, INTEGRATION)
    message = str(err.value)
    assert message.startswith(f"pip could not install the requirements of {requirements}:")
    assert "tiers-no-such-package-3f9c1e" in message
    assert list(cache.iterdir()) == []  # the partial build is gone
