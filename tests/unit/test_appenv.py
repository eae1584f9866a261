"""A release's Python environment (deploy/commands/appenv.py): cache keys, argv, requirement sources,
interpreter lookup, RUNPATH rewriting, what a copied prefix leaves out, and the cache's build protocol
(with the build itself replaced: tests/integration/test_appenv.py runs the real one)."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

import pytest

from deploy.commands import appenv
from deploy.commands.appenv import (
    MARKER,
    EnvError,
    Log,
    Requirements,
    available_pythons,
    copy_argv,
    ensure_env,
    ensurepip_argv,
    env_key,
    find_python,
    left_out,
    make_readable,
    missing_python_message,
    pip_failure_message,
    pip_install_argv,
    pyproject_dependencies,
    read_requirements,
    relocated_rpath,
    set_rpath_argv,
    venv_argv,
    without_venv_command,
)

INTEGRATION = ["uWSGI>=2.0.28,<2.1", "Django>=4.2,<6.1"]
PYENV = Path("/root/.pyenv/versions/3.12.1")


# --- the cache key --------------------------------------------------------------------------------


def test_key_is_16_hex_and_stable() -> None:
    key = env_key("3.12", "3.12.1", ["Django>=6.0,<6.1\n"], INTEGRATION)
    assert len(key) == 16 and int(key, 16) >= 0
    assert key == env_key("3.12", "3.12.1", ["Django>=6.0,<6.1\n"], INTEGRATION)


def test_key_changes_with_every_input() -> None:
    base = ("3.12", "3.12.1", ["Django>=6.0,<6.1\n"], INTEGRATION)
    variants = [
        ("3.13", *base[1:]),
        ("3.12", "3.12.2", *base[2:]),
        ("3.12", "3.12.1", ["Django>=6.0,<6.1\nrequests\n"], INTEGRATION),
        (*base[:3], [*INTEGRATION, "boto3>=1.35,<2"]),
    ]
    keys = {env_key(*v) for v in [base, *variants]}
    assert len(keys) == 5


def test_key_ignores_the_order_and_padding_of_integration_lines() -> None:
    a = env_key("3.11", "3.11.2", ["x\n"], ["a>=1", "b<2"])
    assert a == env_key("3.11", "3.11.2", ["x\n"], [" b<2", "a>=1 "])


def test_key_texts_are_not_concatenated_ambiguously() -> None:
    assert env_key("3.11", "3.11.2", ["ab", "c"], []) != env_key("3.11", "3.11.2", ["a", "bc"], [])


# --- requirement sources --------------------------------------------------------------------------


def test_requirements_file_and_its_includes_are_in_the_key(tmp_path: Path) -> None:
    (tmp_path / "constraints.txt").write_text("sqlparse==0.5.0\n")
    (tmp_path / "base.txt").write_text("-c constraints.txt\nDjango>=6.0,<6.1\n")
    req = tmp_path / "requirements.txt"
    req.write_text("-r base.txt\n--requirement=base.txt\npymemcache\n")
    reqs = read_requirements(req)
    assert reqs.pip_args == ("-r", str(req))
    assert len(reqs.texts) == 3  # base.txt included twice counts once
    before = env_key("3.12", "3.12.1", reqs.texts, [])
    (tmp_path / "constraints.txt").write_text("sqlparse==0.5.1\n")
    assert env_key("3.12", "3.12.1", read_requirements(req).texts, []) != before


def test_relative_requirements_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "requirements.txt").write_text("Django\n")
    monkeypatch.chdir(tmp_path)
    reqs = read_requirements(Path("requirements.txt"))
    assert reqs.source == tmp_path / "requirements.txt"
    assert reqs.pip_args == ("-r", str(tmp_path / "requirements.txt"))


def test_unreadable_requirements_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(EnvError, match=r"cannot read the requirements file .*missing\.txt"):
        read_requirements(tmp_path / "missing.txt")


def test_pyproject_dependencies_are_installed_not_the_project(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[project]\nname = "site"\nversion = "1"\ndependencies = ["Django>=6.0,<6.1", "pillow"]\n'
    )
    reqs = read_requirements(path)
    assert reqs == Requirements(path, ("Django>=6.0,<6.1", "pillow"), ("Django>=6.0,<6.1", "pillow"))


def test_pyproject_without_dependencies_needs_nothing() -> None:
    assert pyproject_dependencies('[project]\nname = "site"\n') == []
    assert pyproject_dependencies("[tool.ruff]\nline-length = 100\n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[project]\ndynamic = ["dependencies"]\n', "dynamic"),
        ("[project\n", "not valid TOML"),
        ('[project]\ndependencies = "Django"\n', "must be a list"),
    ],
)
def test_pyproject_errors(text: str, message: str) -> None:
    with pytest.raises(EnvError, match=message):
        pyproject_dependencies(text, "site/pyproject.toml")


# --- argv -----------------------------------------------------------------------------------------


def test_pip_installs_the_project_and_the_integration_in_one_run() -> None:
    reqs = Requirements(Path("/p/requirements.txt"), ("-r", "/p/requirements.txt"), ())
    assert pip_install_argv(Path("/c/k"), reqs, INTEGRATION) == [
        "/c/k/bin/python", "-I", "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-input",
        "-r", "/p/requirements.txt", "uWSGI>=2.0.28,<2.1", "Django>=4.2,<6.1",
    ]  # fmt: skip


def test_small_argv_builders() -> None:
    assert venv_argv(Path("/usr/bin/python3.11"), Path("/c/k")) == [
        "/usr/bin/python3.11", "-I", "-m", "venv", "/c/k",
    ]  # fmt: skip
    assert ensurepip_argv(Path("/c/k")) == ["/c/k/bin/python", "-I", "-m", "ensurepip"]
    assert set_rpath_argv(Path("/c/k/bin/uwsgi"), "$ORIGIN/../lib") == [
        "patchelf", "--set-rpath", "$ORIGIN/../lib", "/c/k/bin/uwsgi",
    ]  # fmt: skip
    assert copy_argv(Path("/c/k"), Path("/r/v1/env"), hardlink=True) == ["cp", "-al", "/c/k", "/r/v1/env"]
    assert copy_argv(Path("/c/k"), Path("/r/v1/env"), hardlink=False) == ["cp", "-a", "/c/k", "/r/v1/env"]


# --- relocation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rpath", "folder", "expected"),
    [
        (f"{PYENV}/lib", "bin", "$ORIGIN/../lib"),
        (f"{PYENV}/lib", "lib", "$ORIGIN"),
        (f"{PYENV}/lib", "lib/python3.12/lib-dynload", "$ORIGIN/../.."),
        (f"/usr/lib/x86_64-linux-gnu:{PYENV}/lib", "bin", "/usr/lib/x86_64-linux-gnu:$ORIGIN/../lib"),
        (
            "$ORIGIN/../psycopg2_binary.libs",
            "lib/python3.12/site-packages/psycopg2",
            "$ORIGIN/../psycopg2_binary.libs",
        ),
        ("/c/.building-k-1/lib", "bin", "$ORIGIN/../lib"),  # built against the build folder itself
        (f"{PYENV}0/lib", "bin", f"{PYENV}0/lib"),  # another prefix that merely starts alike
        ("", "bin", ""),
    ],
)
def test_relocated_rpath(rpath: str, folder: str, expected: str) -> None:
    env = Path("/c/.building-k-1")
    moves = {PYENV: env, env: env}
    assert relocated_rpath(rpath, env / folder, moves) == expected


@pytest.mark.parametrize(
    ("rel", "dropped"),
    [
        ("lib/python3.12/test", True),
        ("lib/python3.12/idlelib", True),
        ("lib/python3.12/tkinter", True),
        ("lib/python3.12/turtledemo", True),
        ("share", True),
        ("lib/python3.12/site-packages/pip", True),
        ("lib/python3.12/site-packages/_some_local.pth", True),
        ("lib/python3.12/site-packages", False),
        ("lib/python3.12/config-3.12-x86_64-linux-gnu/libpython3.12.a", True),
        ("lib/libpython3.12.so.1.0", False),
        ("lib/python3.12/__pycache__/os.cpython-312.opt-1.pyc", True),
        ("lib/python3.12/__pycache__/os.cpython-312.opt-2.pyc", True),
        ("lib/python3.12/__pycache__/os.cpython-312.pyc", False),
        ("lib/python3.12/ensurepip", False),
        ("lib/python3.12/unittest", False),
        ("lib/python3.12/email/test", False),  # only the top-level test suite
    ],
)
def test_left_out_of_a_copied_prefix(rel: str, dropped: bool) -> None:
    assert left_out(PurePosixPath(rel), "3.12") is dropped


def test_venv_command_line_is_dropped() -> None:
    cfg = "home = /usr/bin\nversion = 3.11.2\ncommand = /usr/bin/python3.11 -m venv /c/.building-k-1\n"
    assert without_venv_command(cfg) == "home = /usr/bin\nversion = 3.11.2\n"


def test_make_readable_keeps_execute_bits(tmp_path: Path) -> None:
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin").chmod(0o700)
    (env / "bin" / "python").write_text("")
    (env / "bin" / "python").chmod(0o700)
    (env / "data").write_text("")
    (env / "data").chmod(0o600)
    (tmp_path / "outside").write_text("")
    (tmp_path / "outside").chmod(0o700)
    (env / "link").symlink_to(tmp_path / "outside")
    (env / "dirlink").symlink_to(tmp_path)
    make_readable(env)
    assert stat.S_IMODE((tmp_path / "outside").stat().st_mode) == 0o700  # symlinks are not followed
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in [env, env / "bin", env / "bin" / "python"]}
    assert modes == {"env": 0o755, "bin": 0o755, "python": 0o755}
    assert stat.S_IMODE((env / "data").stat().st_mode) == 0o644


# --- messages -------------------------------------------------------------------------------------


def test_pip_failure_names_the_file_and_keeps_the_tail() -> None:
    output = "\n".join(f"line {i}" for i in range(100)) + "\nERROR: No matching distribution found for nope\n"
    message = pip_failure_message(Path("/srv/site/requirements.txt"), output)
    lines = message.splitlines()
    assert lines[0] == "pip could not install the requirements of /srv/site/requirements.txt:"
    assert len(lines) == 41 and lines[1] == "line 61"
    assert lines[-1] == "ERROR: No matching distribution found for nope"


def test_missing_python_message() -> None:
    assert missing_python_message("3.12", ["3.11", "3.13"]) == (
        "Python 3.12 is not on this machine (found: 3.11, 3.13); "
        'install it or set python = "3.11" or "3.13" in tiers.toml'
    )
    assert "found: none" in missing_python_message("3.12", [])


# --- finding interpreters -------------------------------------------------------------------------


def _fake_python(prefix: Path, version: str) -> Path:
    path = prefix / "bin" / f"python{version}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    path.chmod(0o755)
    return path


@pytest.fixture
def pythons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty system bin and pyenv versions folder under tmp_path, and no TIERS_PYTHONS."""
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "pyenv").mkdir()
    monkeypatch.setattr(appenv, "SYSTEM_BIN", tmp_path / "usr" / "bin")
    monkeypatch.setattr(appenv, "PYENV_VERSIONS", tmp_path / "pyenv")
    monkeypatch.delenv("TIERS_PYTHONS", raising=False)
    return tmp_path


def test_system_python_first_then_extra_prefixes_then_newest_pyenv(
    pythons: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("3.12.1", "3.12.9", "3.12.10", "3.12.11t", "3.12-dev", "3.13.0"):
        _fake_python(pythons / "pyenv" / name, name[:4])
    assert find_python("3.12") == pythons / "pyenv" / "3.12.10" / "bin" / "python3.12"
    extra = _fake_python(pythons / "opt" / "py312", "3.12")
    monkeypatch.setenv("TIERS_PYTHONS", f"{pythons / 'nowhere'}:{pythons / 'opt' / 'py312'}")
    assert find_python("3.12") == extra
    system = _fake_python(pythons / "usr", "3.12")
    assert find_python("3.12") == system
    assert available_pythons() == ["3.12", "3.13"]


def test_missing_and_unsupported_pythons(pythons: Path) -> None:
    _fake_python(pythons / "usr", "3.11")
    _fake_python(pythons / "pyenv" / "3.13.0", "3.13")
    with pytest.raises(EnvError) as err:
        find_python("3.12")
    assert str(err.value) == (
        'Python 3.12 is not on this machine (found: 3.11, 3.13); install it or set python = "3.11" or "3.13" '
        "in tiers.toml"
    )
    with pytest.raises(EnvError, match="not supported"):
        find_python("3.10")


def test_ensure_env_without_the_python_builds_nothing(pythons: Path) -> None:
    (pythons / "requirements.txt").write_text("Django\n")
    with pytest.raises(EnvError, match=r"Python 3\.13 is not on this machine"):
        ensure_env(pythons / "cache", "3.13", pythons / "requirements.txt", INTEGRATION, log=lambda _: None)
    assert not (pythons / "cache").exists()


# --- the cache's build protocol (the build itself faked) ------------------------------------------


@pytest.fixture
def fake_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """ensure_env with a stand-in interpreter and build; returns the folders the build was run in."""
    runs: list[Path] = []

    def build(python: Path, version: str, work: Path, reqs: Requirements, integ: list[str], log: Log) -> None:
        runs.append(work)
        (work / "bin").mkdir(parents=True)
        (work / "bin" / "python").write_text("")

    monkeypatch.setattr(appenv, "find_python", lambda v: Path("/usr/bin/python3.11"))
    monkeypatch.setattr(appenv, "interpreter_version", lambda p: "3.11.2")
    monkeypatch.setattr(appenv, "_build", build)
    (tmp_path / "requirements.txt").write_text("Django\n")
    return runs


def _ensure(tmp_path: Path) -> Path:
    return ensure_env(
        tmp_path / "cache", "3.11", tmp_path / "requirements.txt", INTEGRATION, log=lambda _: None
    )


def test_built_once_then_served_from_the_cache(tmp_path: Path, fake_build: list[Path]) -> None:
    env = _ensure(tmp_path)
    assert env.parent == tmp_path / "cache" and (env / MARKER).is_file()
    assert fake_build == [tmp_path / "cache" / f".building-{env.name}-{os.getpid()}"]
    assert _ensure(tmp_path) == env
    assert len(fake_build) == 1
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [env.name]


def test_a_concurrent_builders_env_wins(
    tmp_path: Path, fake_build: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_build = appenv._build

    def racing(python: Path, version: str, work: Path, *rest: object) -> None:
        real_build(python, version, work, *rest)
        winner = work.parent / work.name.split("-")[1]  # another builder renamed its env in meanwhile
        (winner / "bin").mkdir(parents=True)
        (winner / MARKER).write_text("theirs")

    monkeypatch.setattr(appenv, "_build", racing)
    env = _ensure(tmp_path)
    assert (env / MARKER).read_text() == "theirs"
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [env.name]


def test_a_failed_build_leaves_nothing(
    tmp_path: Path, fake_build: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(python: Path, version: str, work: Path, *rest: object) -> None:
        work.mkdir()
        (work / "half").write_text("")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(appenv, "_build", failing)
    with pytest.raises(EnvError, match=r"requirements\.txt failed: .*No space left on device"):
        _ensure(tmp_path)
    assert list((tmp_path / "cache").iterdir()) == []


def test_an_env_without_its_marker_is_rebuilt(tmp_path: Path, fake_build: list[Path]) -> None:
    env = _ensure(tmp_path)
    (env / MARKER).unlink()
    assert _ensure(tmp_path) == env
    assert len(fake_build) == 2 and (env / MARKER).is_file()


def test_leftovers_of_dead_builders_are_swept(tmp_path: Path, fake_build: list[Path]) -> None:
    cache = tmp_path / "cache"
    dead, young, alive = (cache / f".building-0123-{pid}" for pid in (4_194_999, 4_194_998, os.getpid() + 0))
    for folder in (dead, young, alive):
        folder.mkdir(parents=True)
    for folder in (dead, alive):
        os.utime(folder, (1, 1))
    (tmp_path / "requirements.txt").write_text("Django\npymemcache\n")  # another key: a build runs
    _ensure(tmp_path)
    assert not dead.exists() and young.exists() and alive.exists()


def test_copy_env_refuses_unfinished_envs_and_existing_targets(
    tmp_path: Path, fake_build: list[Path]
) -> None:
    with pytest.raises(EnvError, match="not a finished environment"):
        appenv.copy_env(tmp_path, tmp_path / "release" / "env")
    env = _ensure(tmp_path)
    appenv.copy_env(env, tmp_path / "release" / "env")
    copied = tmp_path / "release" / "env" / "bin" / "python"
    assert copied.stat().st_ino == (env / "bin" / "python").stat().st_ino  # a hard link
    with pytest.raises(EnvError, match="exists already"):
        appenv.copy_env(env, tmp_path / "release" / "env")
