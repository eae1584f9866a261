"""Immutable releases of a project and which one each app node runs.

A release is a folder ``var/<cluster>/releases/<version>/`` holding::

    app/          the project's code (the folder with manage.py and tiers.toml), byte-compiled
    tiers/        the Tiers Django integration (this repository's app/: router, health, settings layer...)
    venv/         a Python environment: the project's Python with its requirements and the integration's
    release.json  version, source, git commit, tree hashes, the env's key and the project's declaration

and is read-only once built. The environment is built once per (Python, requirements) in a shared cache
(deploy/commands/appenv.py) and copied into the release with hard links: a release with unchanged
requirements builds in seconds, and every release still carries all it runs (hosts receive it whole).

Which release a node runs lives in ``releases/current.json``::

    {"nodes": {"web1": "<version>", "web2": "<version>"}, "history": ["<v1>", "<v2>"]}

``nodes`` is per node because mid-deploy nodes differ. ``history`` lists every version that
finished a deploy (or rollback), oldest first; its last entry is the live release and the one
before it is what ``rollback`` goes back to. ``prune`` keeps the newest N releases and never
deletes one a node runs or the last two of ``history``.

Version names: ``<git sha7>-<UTC time>`` for a project at a clean git commit, ``<git sha7>.d<tree hash6>-<time>``
when it has uncommitted changes, ``h<tree hash10>-<time>`` for a project outside git.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from ..model.app import AppSpec
from ..model.paths import REPO
from ..model.release import Release
from . import appenv

# What a release leaves out of a project: caches, version control, local environments and state, and
# `.env` files (secrets reach app nodes from the cluster's secret store, never from the code).
IGNORED = ("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".tox", ".nox",
           ".git", ".hg", ".venv", "venv", "node_modules", "*.sqlite3", ".env", "var")  # fmt: skip
_IGNORED_DIRS = frozenset(p for p in IGNORED if "*" not in p)
# The integration: the Django packages of this repository's app/ folder, installed into every release.
INTEGRATION = REPO / "app"
INTEGRATION_REQUIREMENTS = INTEGRATION / "requirements.txt"
# Where built environments are kept, shared by every cluster of this checkout (keyed by their inputs).
ENV_CACHE = REPO / "var" / "envs"
DEFAULT_KEEP = 5


class ReleaseError(RuntimeError):
    """A release cannot be built, found or used; the message says why and what to do."""


# ------------------------------------------------------------------ pure helpers
def version_name(git_sha: str | None, dirty: bool, tree_hash: str, when: float) -> str:
    """The folder name of a release built at ``when`` (epoch seconds)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    if git_sha and not dirty:
        return f"{git_sha[:7]}-{stamp}"
    if git_sha:
        return f"{git_sha[:7]}.d{tree_hash[:6]}-{stamp}"
    return f"h{tree_hash[:10]}-{stamp}"


def tree_hash(*roots: Path) -> str:
    """sha256 over the relative paths and contents of every file a release copies from ``roots``."""
    h = hashlib.sha256()
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not _ignored(p.relative_to(root))):
            h.update(str(path.relative_to(root)).encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def static_hash(app: Path) -> str:
    """sha256 over the files in the app's ``static/`` folders (what collectstatic uploads)."""
    h = hashlib.sha256()
    files = sorted(p for p in app.rglob("*") if p.is_file() and "static" in p.relative_to(app).parts[:-1])
    for path in files:
        h.update(str(path.relative_to(app)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def integration_requirements() -> list[str]:
    """The integration's requirement lines (app/requirements.txt, comments left out)."""
    lines = (line.split("#", 1)[0].strip() for line in INTEGRATION_REQUIREMENTS.read_text().splitlines())
    return [line for line in lines if line]


def _ignored(relative: Path) -> bool:
    return any(part in _IGNORED_DIRS for part in relative.parts) or relative.suffix in (
        ".pyc",
        ".pyo",
        ".sqlite3",
    )


def releases_dir(state_root: Path) -> Path:
    """Where a state folder keeps its releases (the operator's, or a fleet host's own)."""
    return state_root / "releases"


def choose_prunable(versions: list[str], keep: int, protected: Iterable[str]) -> list[str]:
    """Versions (oldest first in ``versions``) to delete: all but the newest ``keep`` and the protected."""
    keep = max(keep, 0)
    protected = set(protected)
    newest = set(versions[-keep:]) if keep else set()
    return [v for v in versions if v not in newest and v not in protected]


def previous_version(history: list[str]) -> str | None:
    """The release before the live one (what a rollback switches to)."""
    return history[-2] if len(history) >= 2 else None


# ------------------------------------------------------------------ the store
class ReleaseStore:
    """Releases and per-node pointers of one cluster (``<state root>/releases``)."""

    def __init__(self, state_root: Path, env_cache: Path = ENV_CACHE) -> None:
        self.root = releases_dir(state_root)
        self.pointer_file = self.root / "current.json"
        self.env_cache = env_cache

    # -- pointers
    def load_state(self) -> dict:
        try:
            data = json.loads(self.pointer_file.read_text())
        except (OSError, ValueError):
            data = {}
        return {"nodes": dict(data.get("nodes", {})), "history": list(data.get("history", []))}

    def _save_state(self, data: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.pointer_file.with_name("current.json.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.pointer_file)

    def node_versions(self) -> dict[str, str]:
        return self.load_state()["nodes"]

    def set_node(self, node: str, version: str) -> None:
        data = self.load_state()
        data["nodes"][node] = version
        self._save_state(data)

    def forget_node(self, node: str) -> None:
        data = self.load_state()
        data["nodes"].pop(node, None)
        self._save_state(data)

    def record_live(self, version: str) -> None:
        """A deploy (or rollback) of ``version`` finished on every node."""
        data = self.load_state()
        history = data["history"]
        if not history or history[-1] != version:
            history.append(version)
        data["history"] = history
        self._save_state(data)

    def record_rollback(self, to_version: str) -> None:
        """After a rollback the rolled-back release leaves the history, so a second rollback goes further."""
        data = self.load_state()
        history = data["history"]
        if len(history) >= 2 and history[-2] == to_version:
            history.pop()
        elif not history or history[-1] != to_version:
            history.append(to_version)
        self._save_state(data)

    def live(self) -> str | None:
        history = self.load_state()["history"]
        return history[-1] if history else None

    # -- releases
    def versions(self) -> list[str]:
        """Every built release, oldest first (by build time in its metadata)."""
        if not self.root.exists():
            return []
        found = [self.get(p.name) for p in self.root.iterdir() if (p / "release.json").exists()]
        found.sort(key=lambda r: (r.meta.get("created", 0), r.version))
        return [r.version for r in found]

    def get(self, version: str) -> Release:
        path = self.root / version
        try:
            meta = json.loads((path / "release.json").read_text())
        except (OSError, ValueError) as exc:
            known = ", ".join(self.versions_unchecked()) or "none"
            raise ReleaseError(f"no release {version!r} in {self.root} (releases: {known})") from exc
        return Release(version, path, meta)

    def versions_unchecked(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()) if self.root.exists() else []

    def build(self, spec: AppSpec, now: float | None = None, log=print) -> Release:
        """A new immutable release of ``spec``'s project: its code, the integration and its environment.

        Fails (:class:`ReleaseError`, nothing left behind) when the environment cannot be built: a Python
        the machine lacks, requirements that do not install, a project module shadowing the integration's.
        """
        source = spec.source
        _refuse_shadowing(source)
        try:
            env = appenv.ensure_env(self.env_cache, spec.python, spec.requirements_path,
                                    integration_requirements(), log=log)  # fmt: skip
        except appenv.EnvError as exc:
            raise ReleaseError(f"the environment of {spec.name} could not be built: {exc}") from None
        digest = tree_hash(source, INTEGRATION)
        git_sha, dirty = _git_state(source)
        when = time.time() if now is None else now
        version = version_name(git_sha, dirty, digest + env.name, when)
        path = self.root / version
        n = 1
        while path.exists():
            n += 1
            path = self.root / f"{version}.{n}"
        version = path.name
        meta = {
            "version": version,
            "created": when,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
            "source": str(source),
            "git_sha": git_sha or "",
            "dirty": dirty,
            "app_tree_sha256": digest,
            "env": env.name,
            # collectstatic runs only when this changes between the live release and the new one: the
            # project's static folders, and the installed apps' (the env: Django's admin, Wagtail's...).
            "static_sha256": hashlib.sha256(f"{static_hash(source)}\0{env.name}".encode()).hexdigest(),
            "app": spec.to_dict(),
        }
        tmp = self.root / f".building-{version}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            shutil.copytree(source, tmp / "app", ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
            shutil.copytree(INTEGRATION, tmp / "tiers", ignore=shutil.ignore_patterns(*IGNORED))
            appenv.copy_env(env, tmp / "venv")
            # Byte-compile now with the release's own Python: the release is read-only afterwards.
            out = subprocess.run(
                [str(tmp / "venv" / "bin" / "python"), "-m", "compileall", "-q", str(tmp / "app"), str(tmp / "tiers")],
                capture_output=True, text=True,
            )  # fmt: skip
            if out.returncode != 0:
                raise ReleaseError(
                    f"byte-compiling the release failed (syntax error?):\n{out.stdout[-2000:]}"
                )
            (tmp / "release.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
            _make_read_only(tmp)
            os.rename(tmp, path)
        except BaseException:
            _make_writable(tmp)
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return Release(version, path, meta)

    def find_same(self, spec: AppSpec) -> Release | None:
        """An existing release of exactly ``spec``'s code, declaration and requirements (no rebuild needed)."""
        digest = tree_hash(spec.source, INTEGRATION)
        declared = spec.to_dict()
        for version in reversed(self.versions()):
            release = self.get(version)
            if release.meta.get("app_tree_sha256") == digest and release.meta.get("app") == declared:
                return release
        return None

    def prune(self, keep: int = DEFAULT_KEEP) -> list[str]:
        """Delete all but the newest ``keep`` releases; never one a node runs or the live/previous one."""
        state = self.load_state()
        protected = set(state["nodes"].values()) | set(state["history"][-2:])
        doomed = choose_prunable(self.versions(), keep, protected)
        for version in doomed:
            path = self.root / version
            _make_writable(path)
            shutil.rmtree(path)
        return doomed


# A cached env this young is kept even when no release names it yet (a build about to use it).
ENV_GRACE_S = 3600


def envs_in_use(var: Path) -> set[str]:
    """The env keys named by any release this machine keeps: every cluster's store and its fleet hosts'."""
    metas = [*var.glob("*/releases/*/release.json"), *var.glob("*/hosts/*/*/releases/*/release.json")]
    used = set()
    for meta in metas:
        with contextlib.suppress(OSError, ValueError):
            used.add(str(json.loads(meta.read_text()).get("env", "")))
    return used


def prune_envs(cache: Path = ENV_CACHE, var: Path | None = None, now: float | None = None) -> list[str]:
    """Delete the cached envs no release on this machine uses (older than :data:`ENV_GRACE_S`): each is
    100-400 MB, and releases keep their own hard-linked copies, so nothing running loses a file."""
    if not cache.is_dir():
        return []
    used = envs_in_use(var or cache.parent)
    now = time.time() if now is None else now
    doomed = [
        d for d in sorted(cache.iterdir())
        if d.is_dir() and not d.name.startswith(".") and d.name not in used
        and now - d.stat().st_mtime > ENV_GRACE_S
    ]  # fmt: skip
    for env in doomed:
        _make_writable(env)
        shutil.rmtree(env)
    return [d.name for d in doomed]


def _git_state(source: Path) -> tuple[str | None, bool]:
    """(HEAD sha, dirty?) when ``source`` lies in a git work tree (dirty: changes under it), else (None, False)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None, False
        status = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--", "."],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None, False
    return head.stdout.strip(), bool(status.stdout.strip())


# Top-level names of the integration's packages: a project module of the same name would shadow one.
def integration_packages() -> list[str]:
    return sorted(p.name for p in INTEGRATION.iterdir() if (p / "__init__.py").exists())


def _refuse_shadowing(source: Path) -> None:
    ours = integration_packages()
    clash = [n for n in ours if (source / n).exists() or (source / f"{n}.py").exists()]
    if clash:
        raise ReleaseError(
            f"{source} has top-level module(s) named like the Tiers integration's packages: {', '.join(clash)} "
            f"(the integration's: {', '.join(ours)}). Rename the project's module(s)."
        )


def _make_read_only(root: Path) -> None:
    """Write bits off every regular file and folder under ``root``; symlinks (the venv's python points at
    the system's interpreter) are left alone, never followed."""
    _chmod_tree(root, lambda mode: mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _make_writable(root: Path) -> None:
    """Folders writable again, so the tree can be deleted; files are left as they are (deleting one needs
    only its folder's write bit), for a release's env shares its files with the env cache and other
    releases through hard links."""
    _chmod_tree(root, lambda mode: mode | stat.S_IWUSR, files=False)


def _chmod_tree(root: Path, change, files: bool = True) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*(filenames if files else ()), *dirnames]:
            p = Path(dirpath) / name
            with contextlib.suppress(OSError):
                st = os.lstat(p)
                if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
                    os.chmod(p, change(stat.S_IMODE(st.st_mode)))
    with contextlib.suppress(OSError):
        os.chmod(root, change(stat.S_IMODE(os.lstat(root).st_mode)))


# ------------------------------------------------------------------ what `up` uses
def ensure_initial(store: ReleaseStore, app_nodes: Iterable[str], spec: AppSpec, log=print) -> str:
    """Make sure a live release exists (built from ``spec`` the first time) and every app node has a
    pointer (new nodes get the live release). Returns the live version."""
    live = store.live()
    if live is None:
        release = store.find_same(spec) or store.build(spec, log=log)
        store.record_live(release.version)
        live = release.version
    pointers = store.node_versions()
    for name in app_nodes:
        if name not in pointers:
            store.set_node(name, live)
    return live


def assignments(store: ReleaseStore, web_nodes: Iterable[str]) -> dict[str, Release]:
    """web node -> the release it runs, for the nodes that have one (for rendering uWSGI inis)."""
    pointers = store.node_versions()
    live = store.live()
    out: dict[str, Release] = {}
    for name in web_nodes:
        version = pointers.get(name) or live
        if version and (store.root / version / "release.json").exists():
            out[name] = store.get(version)
    return out


def differs_from(store: ReleaseStore, version: str, spec: AppSpec) -> bool:
    """Whether ``spec``'s project (code or declaration) is not what release ``version`` was built from."""
    try:
        meta = store.get(version).meta
    except ReleaseError:
        return True
    return (
        meta.get("app_tree_sha256") != tree_hash(spec.source, INTEGRATION)
        or meta.get("app") != spec.to_dict()
    )
