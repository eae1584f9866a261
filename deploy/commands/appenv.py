"""A release's Python environment: the project's requirements and the integration's, on the project's Python.

A release is the project's code plus this environment, shipped to hosts where the release folder sits at
another absolute path, and run by unprivileged service users. So the environment must be relocatable and
readable by anyone, and nothing in it may point into /root (mode 0700) or at the folder it was built in:

* Debian's Python (``/usr/bin/python3.X``, the same on every Debian 12 host): a plain venv. Its
  ``pyvenv.cfg`` says ``home = /usr/bin``, which holds everywhere; the absolute shebangs of its scripts
  are never used (we run ``<env>/bin/python`` and ``<env>/bin/uwsgi`` only).
* Any other Python (pyenv's, built ``--enable-shared``): a copy of its installation prefix, less the test
  suite, IDLE, Tk and the static libpython. CPython finds its standard library relative to its
  executable, so the copy works anywhere once its ELF files stop naming the original prefix: their
  RUNPATHs (the interpreter's, libpython's, every extension module's, and those of anything built from
  source against it, such as uWSGI) are rewritten to ``$ORIGIN``-relative ones with patchelf.

Packages go into the environment with its own ``python -m pip``, the project's requirements and the
integration's lines in one invocation so pip resolves them together; pip's wheel cache (~/.cache/pip)
makes the compiled uWSGI quick after the first build. Environments are content-addressed in a cache
folder (the key covers the interpreter and every requirement text), built beside it and renamed into
place, and copied into each release as hard links (:func:`copy_env`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..model.app import SUPPORTED_PYTHONS

# Where interpreters are looked for (module attributes, so tests can point them elsewhere).
SYSTEM_BIN = Path("/usr/bin")
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
EXTRA_PREFIXES_VAR = "TIERS_PYTHONS"  # colon-separated extra installation prefixes, searched before pyenv

MARKER = ".complete"  # written last, before the rename: an env folder without it is not a finished build
# Part of every cache key: change it when the build steps change, and every cached env is rebuilt.
RECIPE = "appenv-1"
PIP_FLAGS = ("-q", "--disable-pip-version-check", "--no-input")
PIP_TAIL_LINES = 40
BUILD_TIMEOUT_S = 1800

Log = Callable[[str], None]


class EnvError(RuntimeError):
    """An environment could not be built or copied; the message says what to change."""


class _CommandFailed(EnvError):
    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class Requirements:
    """What a project asks pip for: ``pip_args`` go on pip's command line, ``texts`` into the cache key."""

    source: Path
    pip_args: tuple[str, ...]
    texts: tuple[str, ...]


# --- finding interpreters -------------------------------------------------------------------------


def _check_version(version: str) -> None:
    if version not in SUPPORTED_PYTHONS:
        raise EnvError(f"Python {version!r} is not supported (supported: {', '.join(SUPPORTED_PYTHONS)})")


def _candidates(version: str) -> list[Path]:
    """Interpreters for ``version`` in order of preference: Debian's, TIERS_PYTHONS' prefixes in the
    order given, then pyenv's newest patch release (3.12.10 before 3.12.9; free-threaded and -dev
    builds are skipped)."""
    found = [SYSTEM_BIN / f"python{version}"]
    extra = os.environ.get(EXTRA_PREFIXES_VAR, "")
    found += [Path(p) / "bin" / f"python{version}" for p in extra.split(":") if p]
    if PYENV_VERSIONS.is_dir():
        pattern = re.compile(rf"{re.escape(version)}\.(\d+)")
        patches = [(int(m[1]), d) for d in PYENV_VERSIONS.iterdir() if (m := pattern.fullmatch(d.name))]
        found += [d / "bin" / f"python{version}" for _, d in sorted(patches, reverse=True)]
    return found


def _usable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def available_pythons() -> list[str]:
    """The supported Python versions this machine has, e.g. ``["3.11", "3.13"]``."""
    return [v for v in SUPPORTED_PYTHONS if any(_usable(p) for p in _candidates(v))]


def missing_python_message(version: str, found: Sequence[str]) -> str:
    if found:
        choice = " or ".join(f'"{v}"' for v in found)
        return (
            f"Python {version} is not on this machine (found: {', '.join(found)}); "
            f"install it or set python = {choice} in tiers.toml"
        )
    return f"Python {version} is not on this machine (found: none); install it, then build again"


def find_python(version: str) -> Path:
    """The interpreter to build ``version``'s ("3.11", "3.12", "3.13") environments from."""
    _check_version(version)
    for path in _candidates(version):
        if _usable(path):
            return path
    raise EnvError(missing_python_message(version, available_pythons()))


def interpreter_version(python: Path) -> str:
    """The exact version ("3.12.1"): a new patch release of the interpreter gets new environments."""
    argv = [str(python), "-I", "-c", "import platform; print(platform.python_version())"]
    return _run(argv, "asking the interpreter its version", timeout=60).strip()


def is_system_python(python: Path) -> bool:
    """Debian's interpreter is on every host at the same place: a venv pointing at it relocates."""
    return python.parent == SYSTEM_BIN


# --- requirements and the cache key ---------------------------------------------------------------

_INCLUDE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)(?:\s*=\s*|\s+)(\S+)")


def _requirement_file_texts(path: Path, seen: set[Path]) -> list[str]:
    """The file's text and that of the files it includes (-r/-c, relative to the including file), so a
    change in an included constraints file changes the key too."""
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise EnvError(f"cannot read the requirements file {path}: {exc.strerror}") from exc
    texts = [f"# {path.name}\n{text}"]
    for line in text.splitlines():
        if m := _INCLUDE.match(line):
            texts += _requirement_file_texts(path.parent / m[1], seen)
    return texts


def pyproject_dependencies(text: str, source: Path | str = "pyproject.toml") -> list[str]:
    """[project].dependencies of a pyproject.toml (the project itself is not installed: a release runs
    its code from the release folder)."""
    try:
        project = tomllib.loads(text).get("project", {})
    except tomllib.TOMLDecodeError as exc:
        raise EnvError(f"{source} is not valid TOML: {exc}") from exc
    if "dependencies" in project.get("dynamic", []):
        raise EnvError(f"{source} declares its dependencies dynamic: list them in a requirements file")
    deps = project.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise EnvError(f"{source}: [project].dependencies must be a list of requirement strings")
    return deps


def read_requirements(path: Path) -> Requirements:
    """A requirements file (pip -r) or a pyproject.toml (its dependencies, given to pip one by one)."""
    path = path.absolute()  # pip runs in the file's folder (its relative paths mean what they say there)
    if path.name == "pyproject.toml":
        try:
            deps = pyproject_dependencies(path.read_text(), path)
        except OSError as exc:
            raise EnvError(f"cannot read {path}: {exc.strerror}") from exc
        return Requirements(path, tuple(deps), tuple(deps))
    return Requirements(path, ("-r", str(path)), tuple(_requirement_file_texts(path, set())))


def env_key(
    python_version: str, exact_version: str, requirement_texts: Iterable[str], integration: Iterable[str]
) -> str:
    """16 hex digits of a sha256 over everything the environment is made of. The integration's lines are
    sorted and stripped: pip resolves them together, so their order does not matter."""
    parts = [
        RECIPE,
        python_version,
        exact_version,
        list(requirement_texts),
        sorted(line.strip() for line in integration),
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


# --- argv builders --------------------------------------------------------------------------------


def env_python(env: Path) -> Path:
    return env / "bin" / "python"


def venv_argv(python: Path, env: Path) -> list[str]:
    return [str(python), "-I", "-m", "venv", str(env)]


def ensurepip_argv(env: Path) -> list[str]:
    """pip from the interpreter's own bundled wheel (offline). The source prefix's site-packages is not
    copied: whatever else was installed there is not the project's."""
    return [str(env_python(env)), "-I", "-m", "ensurepip"]


def pip_install_argv(env: Path, requirements: Requirements, integration: Sequence[str]) -> list[str]:
    """One pip run for both, so a conflict between the project's pins and the integration's is found
    (and reported) instead of one silently overriding the other. -I: no user site-packages and no
    PYTHON* variables; pip still reads its PIP_* settings and pip.conf."""
    return [
        str(env_python(env)), "-I", "-m", "pip", "install", *PIP_FLAGS,
        *requirements.pip_args, *integration,
    ]  # fmt: skip


def set_rpath_argv(path: Path, rpath: str) -> list[str]:
    return ["patchelf", "--set-rpath", rpath, str(path)]


def copy_argv(env: Path, dest: Path, hardlink: bool) -> list[str]:
    """``cp -al`` (hard links: a second for hundreds of MB) when on one filesystem, else a real copy."""
    return ["cp", "-al" if hardlink else "-a", str(env), str(dest)]


def relocated_rpath(rpath: str, file_dir: Path, moves: Mapping[Path, Path]) -> str:
    """``rpath`` with every entry under an old prefix of ``moves`` made relative to ``file_dir`` (the
    ELF file's folder, inside the env): ``/root/.pyenv/versions/3.12.1/lib`` seen from ``<env>/bin``
    becomes ``$ORIGIN/../lib``. Other entries (system folders, ``$ORIGIN`` ones) are kept."""
    out = []
    for entry in rpath.split(":") if rpath else []:
        for old, new in moves.items():
            if entry == str(old) or entry.startswith(f"{old}/"):
                rel = os.path.relpath(new / os.path.relpath(entry, old), file_dir)
                entry = "$ORIGIN" if rel == "." else f"$ORIGIN/{rel}"
                break
        out.append(entry)
    return ":".join(out)


def left_out(rel: PurePosixPath, version: str) -> bool:
    """Parts of an interpreter's prefix an environment does without (~60 MB of tests, IDLE, Tk, man
    pages, the static libpython; the optimised .pyc variants). The plain .pyc files stay: a release is
    read-only, and compiling the standard library at each start costs ~0.3 s per process."""
    stdlib = PurePosixPath("lib") / f"python{version}"
    dropped = {stdlib / d for d in ("test", "idlelib", "tkinter", "turtledemo")} | {PurePosixPath("share")}
    name = rel.name
    return (
        rel in dropped
        or rel.parent == stdlib / "site-packages"
        or name.endswith((".opt-1.pyc", ".opt-2.pyc"))
        or (name.startswith("libpython") and name.endswith(".a"))
    )


def pip_failure_message(requirements_file: Path, output: str, lines: int = PIP_TAIL_LINES) -> str:
    tail = "\n".join(output.rstrip().splitlines()[-lines:])
    return f"pip could not install the requirements of {requirements_file}:\n{tail}"


# --- running --------------------------------------------------------------------------------------


def _run(argv: Sequence[str], what: str, cwd: Path | None = None, timeout: float = BUILD_TIMEOUT_S) -> str:
    """Run argv; its output (stdout and stderr together) is returned, or ends an EnvError's message."""
    try:
        out = subprocess.run(
            argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise EnvError(f"{what}: no end after {timeout:.0f} s ({' '.join(argv)})") from exc
    except FileNotFoundError as exc:
        raise EnvError(f"{what}: {argv[0]} is not installed (deploy/bootstrap.sh installs it)") from exc
    if out.returncode != 0:
        tail = "\n".join(out.stdout.rstrip().splitlines()[-PIP_TAIL_LINES:])
        raise _CommandFailed(f"{what} failed (exit {out.returncode}): {' '.join(argv)}\n{tail}", out.stdout)
    return out.stdout


def _elf_files(root: Path) -> Iterable[Path]:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath, name)
            if not path.is_symlink() and path.is_file():
                with path.open("rb") as fh:
                    if fh.read(4) == b"\x7fELF":
                        yield path


def relocate_rpaths(env: Path, moves: Mapping[Path, Path]) -> list[Path]:
    """Rewrite the RUNPATH of every ELF file in env naming an old prefix; returns the files changed.
    Only files whose bytes contain an old prefix are asked (a few patchelf runs, not hundreds)."""
    needles = [str(old).encode() for old in moves]
    changed = []
    for path in _elf_files(env):
        data = path.read_bytes()
        if not any(n in data for n in needles):
            continue
        rpath = _run(["patchelf", "--print-rpath", str(path)], f"reading the RUNPATH of {path}").strip()
        new = relocated_rpath(rpath, path.parent, moves)
        if new != rpath:
            _run(set_rpath_argv(path, new), f"relocating {path}")
            changed.append(path)
    return changed


def make_readable(root: Path) -> None:
    """Folders 0755, files 0644 (0755 if executable by anyone): the service users run the env. Symlinks
    are left alone: chmod follows them (a venv's bin/python3.11 is /usr/bin/python3.11)."""
    os.chmod(root, 0o755)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode):
                os.chmod(path, 0o755)
            elif stat.S_ISREG(mode):
                os.chmod(path, 0o755 if mode & 0o111 else 0o644)


def without_venv_command(pyvenv_cfg: str) -> str:
    """pyvenv.cfg less its ``command =`` line (3.11+), which names the folder the venv was built in:
    informational only, and wrong once the env is renamed or copied."""
    return "".join(line for line in pyvenv_cfg.splitlines(keepends=True) if not line.startswith("command ="))


def _build(
    python: Path, version: str, work: Path, reqs: Requirements, integration: Sequence[str], log: Log
) -> None:
    if is_system_python(python):
        _run(venv_argv(python, work), f"creating a venv from {python}")
        cfg = work / "pyvenv.cfg"
        cfg.write_text(without_venv_command(cfg.read_text()))
        moves: dict[Path, Path] = {work: work}
    else:
        prefix = python.parent.parent
        log(f"    copying {prefix} (its own interpreter: the env must not depend on {prefix})")

        def ignore(folder: str, names: list[str]) -> set[str]:
            rel = PurePosixPath(Path(folder).relative_to(prefix))
            return {n for n in names if left_out(rel / n, version)}

        shutil.copytree(prefix, work, symlinks=True, ignore=ignore)
        moves = {prefix: work, work: work}
        relocate_rpaths(work, moves)
        _run(ensurepip_argv(work), "installing pip into the env")
    log(f"    pip install {' '.join([*reqs.pip_args, *integration])}")
    try:
        _run(pip_install_argv(work, reqs, integration), "pip install", cwd=reqs.source.parent)
    except _CommandFailed as exc:
        raise EnvError(pip_failure_message(reqs.source, exc.output)) from exc
    relocate_rpaths(work, moves)  # what pip built from source against the interpreter (uWSGI)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(cache_root: Path) -> None:
    """Remove what builders killed mid-way left: ``.building-<key>-<pid>`` of a dead pid, if older than a
    build may take (a pid from another PID namespace sharing the cache would look dead)."""
    for path in cache_root.glob(".building-*-*"):
        pid = path.name.rpartition("-")[2]
        stale = time.time() - path.stat().st_mtime > BUILD_TIMEOUT_S
        if pid.isdigit() and stale and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def ensure_env(
    cache_root: Path,
    python_version: str,
    requirements_file: Path,
    integration_requirements: Sequence[str],
    log: Log = print,
) -> Path:
    """The finished environment for these inputs, ``cache_root/<key>``: returned at once when cached,
    else built in ``cache_root/.building-<key>-<pid>`` and renamed into place (atomic; when a concurrent
    builder got there first, its env is kept and ours discarded). A failure leaves nothing behind."""
    python = find_python(python_version)
    reqs = read_requirements(requirements_file)
    key = env_key(python_version, interpreter_version(python), reqs.texts, integration_requirements)
    final = cache_root / key
    if (final / MARKER).is_file():
        log(f"==> the Python {python_version} environment {key} is cached: {final}")
        return final
    cache_root.mkdir(parents=True, exist_ok=True)
    _sweep(cache_root)
    if final.exists():  # no marker: not ours (we rename only finished builds); do not trust it
        aside = cache_root / f".building-{key}-broken-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):  # another builder moved it aside first
            os.rename(final, aside)
        shutil.rmtree(aside, ignore_errors=True)
    work = cache_root / f".building-{key}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    log(f"==> building the Python {python_version} environment {key} for {requirements_file} ({python})")
    started = time.monotonic()
    try:
        _build(python, python_version, work, reqs, integration_requirements, log)
        inputs = {"python": str(python), "requirements": str(reqs.source), "key": key}
        (work / MARKER).write_text(json.dumps(inputs) + "\n")
        make_readable(work)
    except BaseException as exc:
        shutil.rmtree(work, ignore_errors=True)
        if isinstance(exc, EnvError) or not isinstance(exc, Exception):
            raise
        raise EnvError(f"building the environment for {requirements_file} failed: {exc}") from exc
    try:
        os.rename(work, final)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not (final / MARKER).is_file():
            raise EnvError(f"cannot move the environment into {final}: {exc}") from exc
    log(f"    built in {time.monotonic() - started:.0f} s")
    return final


def copy_env(env: Path, dest: Path) -> None:
    """A copy of a cached env at ``dest`` for one release. Hard links when the cache and dest share a
    filesystem: the files are the cache's, so nothing may write to them in place, and a chmod in the
    copy changes the cache too (removing write bits is fine; removing execute bits breaks the cache).
    Never chmod through symlinks: a venv's bin/python3.11 points at /usr/bin/python3.11."""
    if not (env / MARKER).is_file():
        raise EnvError(f"{env} is not a finished environment (no {MARKER})")
    if dest.exists():
        raise EnvError(f"{dest} exists already")
    dest.parent.mkdir(parents=True, exist_ok=True)
    same_fs = env.stat().st_dev == dest.parent.stat().st_dev
    _run(copy_argv(env, dest, hardlink=same_fs), f"copying the environment {env} to {dest}")
