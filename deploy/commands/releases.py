"""Immutable releases of the application and which one each web node runs.

A release is a folder ``var/<cluster>/releases/<version>/`` holding a copy of ``app/``
(byte-compiled, then made read-only) and ``release.json`` (version, source, git commit,
the app tree's hash and the hash of the ``pyproject.toml`` its dependencies come from).

Dependencies: every release runs on the shared ``.venv``. A release records the hash of the
``pyproject.toml`` next to its source; building (or switching to) a release whose hash differs
from the one the shared venv was installed from is refused with a clear message: a dependency
change is installed first (``make install``), then deployed. A per-release venv would make every
deploy pay a full ``pip install`` on a 2-core box; refusing is explicit and cheap.

Which release a node runs lives in ``releases/current.json``::

    {"nodes": {"web1": "<version>", "web2": "<version>"}, "history": ["<v1>", "<v2>"]}

``nodes`` is per node because mid-deploy nodes differ. ``history`` lists every version that
finished a deploy (or rollback), oldest first; its last entry is the live release and the one
before it is what ``rollback`` goes back to. ``prune`` keeps the newest N releases and never
deletes one a node runs or the last two of ``history``.

Version names: ``<git sha7>-<UTC time>`` for a clean git tree, ``<git sha7>.d<tree hash6>-<time>``
when ``app/`` or ``pyproject.toml`` has uncommitted changes, ``h<tree hash10>-<time>`` for a
source that is not a git tree (``deploy --source DIR``).
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
from dataclasses import dataclass, field
from pathlib import Path

# What a release copies from its source tree and what it leaves out.
RUNTIME_DIRS = ("app",)
IGNORED = ("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", ".ruff_cache")
DEFAULT_KEEP = 5


class ReleaseError(RuntimeError):
    """A release cannot be built, found or used; the message says why and what to do."""


@dataclass(frozen=True)
class Release:
    version: str
    path: Path
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def app(self) -> Path:
        return self.path / "app"

    @property
    def pyproject_sha256(self) -> str:
        return str(self.meta.get("pyproject_sha256", ""))


# ------------------------------------------------------------------ pure helpers
def version_name(git_sha: str | None, dirty: bool, tree_hash: str, when: float) -> str:
    """The folder name of a release built at ``when`` (epoch seconds)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    if git_sha and not dirty:
        return f"{git_sha[:7]}-{stamp}"
    if git_sha:
        return f"{git_sha[:7]}.d{tree_hash[:6]}-{stamp}"
    return f"h{tree_hash[:10]}-{stamp}"


def tree_hash(root: Path, dirs: Iterable[str] = RUNTIME_DIRS) -> str:
    """sha256 over the relative paths and contents of every runtime file (caches ignored)."""
    h = hashlib.sha256()
    for d in dirs:
        base = root / d
        for path in sorted(p for p in base.rglob("*") if p.is_file() and not _ignored(p)):
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


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def _ignored(path: Path) -> bool:
    return any(part in ("__pycache__", ".pytest_cache", ".ruff_cache") for part in path.parts) or (
        path.suffix in (".pyc", ".pyo")
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

    def __init__(self, state_root: Path, venv_pyproject: Path) -> None:
        self.root = releases_dir(state_root)
        self.pointer_file = self.root / "current.json"
        # The pyproject.toml the shared venv was installed from (the repository's).
        self.venv_pyproject = venv_pyproject

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

    def check_dependencies(self, release: Release) -> None:
        """Refuse a release whose dependencies are not the ones installed in the shared venv."""
        installed = file_sha256(self.venv_pyproject)
        if release.pyproject_sha256 and release.pyproject_sha256 != installed:
            raise ReleaseError(
                f"release {release.version} was built from a pyproject.toml (sha256 "
                f"{release.pyproject_sha256[:12]}) that differs from the one the shared venv was installed "
                f"from ({installed[:12]}, {self.venv_pyproject}). Releases share one venv: install the new "
                f"dependencies first (update pyproject.toml, `make install`), then deploy."
            )

    def build(self, source: Path, python: Path, now: float | None = None) -> Release:
        """Copy ``source``'s runtime folders into a new immutable release and return it."""
        source = source.resolve()
        if not (source / "app" / "manage.py").exists():
            raise ReleaseError(f"{source} is not a Tiers source tree (no app/manage.py)")
        pyproject = source / "pyproject.toml"
        if not pyproject.exists():
            pyproject = self.venv_pyproject
        digest = tree_hash(source)
        git_sha, dirty = _git_state(source)
        when = time.time() if now is None else now
        version = version_name(git_sha, dirty, digest + file_sha256(pyproject), when)
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
            "pyproject_sha256": file_sha256(pyproject),
            # collectstatic runs only when this changes between the live release and the new one.
            "static_sha256": static_hash(source / "app"),
        }
        release = Release(version, path, meta)
        self.check_dependencies(release)
        tmp = self.root / f".building-{version}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for d in RUNTIME_DIRS:
            shutil.copytree(source / d, tmp / d, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
        # Byte-compile now: the release is read-only afterwards, so nothing can write caches into it.
        out = subprocess.run(
            [str(python), "-m", "compileall", "-q", str(tmp / "app")], capture_output=True, text=True
        )
        if out.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ReleaseError(f"byte-compiling the release failed (syntax error?):\n{out.stdout[-2000:]}")
        (tmp / "release.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        _make_read_only(tmp)
        os.rename(tmp, path)
        return release

    def find_same(self, source: Path) -> Release | None:
        """An existing release with exactly ``source``'s app tree and dependencies (no rebuild needed)."""
        digest = tree_hash(source.resolve())
        pyproject = source / "pyproject.toml"
        dep = file_sha256(pyproject if pyproject.exists() else self.venv_pyproject)
        for version in reversed(self.versions()):
            meta = self.get(version).meta
            if meta.get("app_tree_sha256") == digest and meta.get("pyproject_sha256") == dep:
                return self.get(version)
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


def _git_state(source: Path) -> tuple[str | None, bool]:
    """(HEAD sha, dirty?) when ``source`` is the top of a git work tree, else (None, False)."""
    try:
        top = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None, False
    lines = top.stdout.split()
    if top.returncode != 0 or len(lines) < 2 or Path(lines[0]).resolve() != source:
        return None, False
    status = subprocess.run(
        ["git", "-C", str(source), "status", "--porcelain", "--", *RUNTIME_DIRS, "pyproject.toml"],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    return lines[1], bool(status.stdout.strip())


def _make_read_only(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            with contextlib.suppress(OSError):
                p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    for dirpath, _dirnames, _filenames in os.walk(root, topdown=False):
        p = Path(dirpath)
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _make_writable(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        Path(dirpath).chmod(0o755)
        for name in filenames:
            with contextlib.suppress(OSError):
                (Path(dirpath) / name).chmod(0o644)


# ------------------------------------------------------------------ what `up` uses
def ensure_initial(store: ReleaseStore, web_nodes: Iterable[str], source: Path, python: Path) -> str:
    """Make sure a live release exists (built from ``source`` the first time) and every web node
    has a pointer (new nodes get the live release). Returns the live version."""
    live = store.live()
    if live is None:
        release = store.find_same(source) or store.build(source, python)
        store.record_live(release.version)
        live = release.version
    pointers = store.node_versions()
    for name in web_nodes:
        if name not in pointers:
            store.set_node(name, live)
    return live


def assignments(store: ReleaseStore, web_nodes: Iterable[str]) -> dict[str, tuple[Path, str]]:
    """web node -> (app dir, version) for the nodes that have a release (for rendering uWSGI inis)."""
    pointers = store.node_versions()
    live = store.live()
    out: dict[str, tuple[Path, str]] = {}
    for name in web_nodes:
        version = pointers.get(name) or live
        if version and (store.root / version / "release.json").exists():
            out[name] = (store.root / version / "app", version)
    return out


def differs_from(store: ReleaseStore, version: str, source: Path) -> bool:
    """Whether ``source``'s app tree is not the one release ``version`` was built from."""
    try:
        meta = store.get(version).meta
    except ReleaseError:
        return True
    return meta.get("app_tree_sha256") != tree_hash(source.resolve())
