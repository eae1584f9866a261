"""Releases: version names, tree hashes, pruning rules, the per-node pointers and an immutable build."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from deploy.commands.releases import (
    ReleaseError,
    ReleaseStore,
    assignments,
    choose_prunable,
    ensure_initial,
    previous_version,
    tree_hash,
    version_name,
)

WHEN = 1_795_440_000.0  # 2026-11-23T13:20:00Z


def test_version_names() -> None:
    assert version_name("7b0d7d0abc", False, "f" * 64, WHEN) == "7b0d7d0-20261123T132000Z"
    assert version_name("7b0d7d0abc", True, "abcdef" + "0" * 58, WHEN) == "7b0d7d0.dabcdef-20261123T132000Z"
    assert version_name(None, False, "0123456789abcdef", WHEN) == "h0123456789-20261123T132000Z"


def test_prune_keeps_newest_and_protected() -> None:
    versions = ["a", "b", "c", "d", "e"]
    assert choose_prunable(versions, 2, protected=[]) == ["a", "b", "c"]
    assert choose_prunable(versions, 2, protected=["a"]) == ["b", "c"]
    assert choose_prunable(versions, 0, protected=["e", "d"]) == ["a", "b", "c"]
    assert choose_prunable(versions, 9, protected=[]) == []


def test_previous_version() -> None:
    assert previous_version([]) is None
    assert previous_version(["a"]) is None
    assert previous_version(["a", "b"]) == "a"


def make_source(root: Path, marker: str = "1") -> Path:
    (root / "app" / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "app" / "manage.py").write_text("print('manage')\n")
    (root / "app" / "pkg" / "mod.py").write_text(f"MARK = {marker!r}\n")
    (root / "app" / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"junk")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return root


def test_tree_hash_ignores_caches_and_sees_changes(tmp_path: Path) -> None:
    src = make_source(tmp_path / "src")
    before = tree_hash(src)
    (src / "app" / "pkg" / "__pycache__" / "other.pyc").write_bytes(b"more junk")
    assert tree_hash(src) == before
    (src / "app" / "pkg" / "mod.py").write_text("MARK = '2'\n")
    assert tree_hash(src) != before


def store_for(tmp_path: Path, src: Path) -> ReleaseStore:
    return ReleaseStore(tmp_path / "state", src / "pyproject.toml")


def test_build_is_immutable_and_pointers_follow(tmp_path: Path) -> None:
    src = make_source(tmp_path / "src")
    store = store_for(tmp_path, src)
    release = store.build(src, Path(sys.executable), now=WHEN)
    assert release.version.startswith("h") and (release.app / "pkg" / "mod.py").read_text() == "MARK = '1'\n"
    # Caches are not copied: the .pyc there is compileall's, not the source tree's junk.
    assert (release.app / "pkg" / "__pycache__" / "mod.cpython-311.pyc").read_bytes() != b"junk"
    assert not (release.app / "pkg" / "mod.py").stat().st_mode & 0o222  # read-only
    assert store.find_same(src) == release
    # Same source, same second: a distinct folder, never an overwrite.
    again = store.build(src, Path(sys.executable), now=WHEN)
    assert again.version == release.version + ".2"

    live = ensure_initial(store, ["web1", "web2"], src, Path(sys.executable))
    assert live == again.version  # the newest identical release is reused, not rebuilt
    assert store.node_versions() == {"web1": live, "web2": live}
    store.set_node("web2", release.version)
    assert assignments(store, ["web1", "web2", "web3"]) == {
        "web1": (again.app, live),
        "web2": (release.app, release.version),
        "web3": (again.app, live),  # a new node gets the live release
    }


def test_history_rollback_and_prune_protection(tmp_path: Path) -> None:
    src = make_source(tmp_path / "src")
    store = store_for(tmp_path, src)
    made = []
    for i in range(4):
        (src / "app" / "pkg" / "mod.py").write_text(f"MARK = {i}\n")
        made.append(store.build(src, Path(sys.executable), now=WHEN + i).version)
    store.record_live(made[0])
    store.record_live(made[1])
    store.set_node("web1", made[1])
    assert store.live() == made[1]
    store.record_rollback(made[0])
    assert store.load_state()["history"] == [made[0]]
    store.record_live(made[1])
    # made[0] is the previous, made[1] live and on web1, made[3] the newest: only made[2] goes.
    assert store.prune(keep=1) == [made[2]]
    store.record_live(made[3])
    store.set_node("web1", made[3])
    assert store.prune(keep=1) == [made[0]]
    assert store.versions() == [made[1], made[3]]


def test_dependency_change_is_refused(tmp_path: Path) -> None:
    src = make_source(tmp_path / "src")
    venv_pyproject = tmp_path / "installed-pyproject.toml"
    venv_pyproject.write_text("[project]\nname = 'x'\ndependencies = ['other']\n")
    store = ReleaseStore(tmp_path / "state", venv_pyproject)
    with pytest.raises(ReleaseError, match="make install"):
        store.build(src, Path(sys.executable), now=WHEN)
    assert store.versions() == []


def test_syntax_error_fails_the_build(tmp_path: Path) -> None:
    src = make_source(tmp_path / "src")
    (src / "app" / "pkg" / "bad.py").write_text("def broken(:\n")
    store = store_for(tmp_path, src)
    with pytest.raises(ReleaseError, match="byte-compiling"):
        store.build(src, Path(sys.executable), now=WHEN)
    assert store.versions() == []
