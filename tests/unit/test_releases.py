"""Releases: version names, tree hashes, pruning rules, the per-node pointers and an immutable build.

No real environment is built: ``appenv.ensure_env`` is replaced by a fake that makes a cached env folder
whose ``bin/python`` is a symlink to a stand-in for the machine's interpreter (a script running this
Python), as a venv's is to ``/usr/bin/python3.X``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from deploy.commands import releases
from deploy.commands.releases import (
    ReleaseError,
    ReleaseStore,
    assignments,
    choose_prunable,
    differs_from,
    ensure_initial,
    previous_version,
    prune_envs,
    tree_hash,
    version_name,
)
from deploy.model.app import load

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


TIERS_TOML = """
[app]
name = "proj"
settings = "proj.settings"
wsgi = "proj.wsgi:application"
requirements = "requirements.txt"
"""


def make_source(root: Path, marker: str = "1") -> Path:
    """A project folder as `init` leaves it: manage.py, tiers.toml, requirements and some code."""
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "manage.py").write_text("print('manage')\n")
    (root / "tiers.toml").write_text(TIERS_TOML)
    (root / "requirements.txt").write_text("django\n")
    (root / "pkg" / "mod.py").write_text(f"MARK = {marker!r}\n")
    (root / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"junk")
    return root


def test_tree_hash_ignores_caches_and_sees_changes(tmp_path: Path) -> None:
    src = make_source(tmp_path / "src")
    before = tree_hash(src)
    (src / "pkg" / "__pycache__" / "other.pyc").write_bytes(b"more junk")
    assert tree_hash(src) == before
    (src / "pkg" / "mod.py").write_text("MARK = '2'\n")
    assert tree_hash(src) != before


@dataclasses.dataclass
class FakeEnvs:
    """What the fake ``ensure_env`` was asked for and where it keeps its envs."""

    cache: Path
    interpreter: Path  # the stand-in for /usr/bin/python3.X that every env's bin/python links to
    keys: list[str] = dataclasses.field(default_factory=list)
    fail: str = ""  # when set, ensure_env raises EnvError with this message

    def env(self, key: str) -> Path:
        return self.cache / key


@pytest.fixture
def envs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEnvs:
    interpreter = tmp_path / "interpreter" / "python3"
    interpreter.parent.mkdir()
    interpreter.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    interpreter.chmod(0o755)
    fake = FakeEnvs(tmp_path / "envs", interpreter)

    def ensure_env(
        cache_root: Path, python_version: str, requirements_file: Path, integration: Sequence[str], log=print
    ) -> Path:
        if fake.fail:
            raise releases.appenv.EnvError(fake.fail)
        inputs = f"{python_version}\0{requirements_file.read_text()}\0{sorted(integration)}"
        key = hashlib.sha256(inputs.encode()).hexdigest()[:16]
        fake.keys.append(key)
        env = cache_root / key
        if not env.exists():
            (env / "bin").mkdir(parents=True)
            (env / "bin" / "python").symlink_to(interpreter)
            (env / "bin" / "uwsgi").write_text("#!/bin/sh\n")
            (env / "bin" / "uwsgi").chmod(0o755)
        return env

    def copy_env(env: Path, dest: Path) -> None:
        # Like `cp -al`: hard links to the cache's files, symlinks kept as they are.
        shutil.copytree(env, dest, symlinks=True, copy_function=os.link)

    monkeypatch.setattr(releases.appenv, "ensure_env", ensure_env)
    monkeypatch.setattr(releases.appenv, "copy_env", copy_env)
    return fake


def store_for(tmp_path: Path, envs: FakeEnvs) -> ReleaseStore:
    return ReleaseStore(tmp_path / "state", env_cache=envs.cache)


def quiet(_line: str) -> None:
    pass


def test_build_is_immutable_and_pointers_follow(tmp_path: Path, envs: FakeEnvs) -> None:
    src = make_source(tmp_path / "src")
    spec = load(src)
    store = store_for(tmp_path, envs)
    release = store.build(spec, now=WHEN, log=quiet)
    assert release.version.startswith("h") and (release.app / "pkg" / "mod.py").read_text() == "MARK = '1'\n"
    # The project's code, the integration beside it, the env: everything the release runs.
    assert (release.app / "manage.py").is_file() and (
        release.integration / "tiers_site" / "config.py"
    ).is_file()
    assert release.python.resolve() == envs.interpreter.resolve()
    # Caches are not copied: the .pyc there is compileall's, not the source tree's junk.
    assert (release.app / "pkg" / "__pycache__" / "mod.cpython-311.pyc").read_bytes() != b"junk"
    assert not (release.app / "pkg" / "mod.py").stat().st_mode & 0o222  # read-only
    assert store.find_same(spec) == release
    # Same source, same second: a distinct folder, never an overwrite.
    again = store.build(spec, now=WHEN, log=quiet)
    assert again.version == release.version + ".2"

    live = ensure_initial(store, ["web1", "web2"], spec, log=quiet)
    assert live == again.version  # the newest identical release is reused, not rebuilt
    assert store.node_versions() == {"web1": live, "web2": live}
    store.set_node("web2", release.version)
    assert assignments(store, ["web1", "web2", "web3"]) == {
        "web1": again,
        "web2": release,
        "web3": again,  # a new node gets the live release
    }
    assert assignments(store, ["web1"])["web1"].spec == spec  # read back from release.json


def test_a_release_records_its_env_key_and_the_projects_declaration(tmp_path: Path, envs: FakeEnvs) -> None:
    src = make_source(tmp_path / "src")
    spec = load(src)
    store = store_for(tmp_path, envs)
    first = store.build(spec, now=WHEN, log=quiet)
    assert first.meta["env"] == envs.keys[-1]
    assert first.meta["app"] == spec.to_dict() and first.spec == spec
    assert first.meta["source"] == str(src.resolve()) and first.meta["git_sha"] == ""
    # Unchanged requirements: the same cached env (copied, not rebuilt); the code alone changed.
    (src / "pkg" / "mod.py").write_text("MARK = '2'\n")
    second = store.build(load(src), now=WHEN + 1, log=quiet)
    assert second.meta["env"] == first.meta["env"]
    assert second.meta["app_tree_sha256"] != first.meta["app_tree_sha256"]
    # New requirements: a new env, whose key the release records.
    (src / "requirements.txt").write_text("django\nrequests\n")
    third = store.build(load(src), now=WHEN + 2, log=quiet)
    assert third.meta["env"] != first.meta["env"] and third.meta["env"] == envs.keys[-1]
    assert sorted(p.name for p in envs.cache.iterdir()) == sorted({first.meta["env"], third.meta["env"]})


def test_find_same_reuses_only_an_identical_project_and_declaration(tmp_path: Path, envs: FakeEnvs) -> None:
    src = make_source(tmp_path / "src")
    spec = load(src)
    store = store_for(tmp_path, envs)
    assert store.find_same(spec) is None  # nothing built yet
    release = store.build(spec, now=WHEN, log=quiet)
    assert store.find_same(load(src)) == release
    assert not differs_from(store, release.version, spec)
    # The same code declared otherwise (another worker command, settings it keeps): not the same release.
    for changed in (
        dataclasses.replace(spec, worker="python manage.py other"),
        dataclasses.replace(spec, keep=("CACHES",)),
    ):
        assert store.find_same(changed) is None
        assert differs_from(store, release.version, changed)
    # Other code under the same declaration: not the same either.
    (src / "pkg" / "mod.py").write_text("MARK = '2'\n")
    assert store.find_same(load(src)) is None
    assert differs_from(store, release.version, load(src))
    assert differs_from(store, "no-such-version", spec)


def test_history_rollback_and_prune_protection(tmp_path: Path, envs: FakeEnvs) -> None:
    src = make_source(tmp_path / "src")
    store = store_for(tmp_path, envs)
    made = []
    for i in range(4):
        (src / "pkg" / "mod.py").write_text(f"MARK = {i}\n")
        made.append(store.build(load(src), now=WHEN + i, log=quiet).version)
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


def modes(*paths: Path) -> list[int]:
    return [p.stat().st_mode & 0o777 for p in paths]


def test_pruning_leaves_the_shared_env_and_the_interpreter_alone(tmp_path: Path, envs: FakeEnvs) -> None:
    """Releases built from one cached env share its files (hard links), and its bin/python links out to the
    machine's interpreter: deleting a release changes neither (a chmod there would follow them)."""
    src = make_source(tmp_path / "src")
    store = store_for(tmp_path, envs)
    old = store.build(load(src), now=WHEN, log=quiet)
    (src / "pkg" / "mod.py").write_text("MARK = '2'\n")
    live = store.build(load(src), now=WHEN + 1, log=quiet)
    store.record_live(live.version)
    shared = envs.env(live.meta["env"]) / "bin" / "uwsgi"
    assert (live.path / "venv" / "bin" / "uwsgi").samefile(shared)
    before = modes(envs.interpreter, shared)
    assert store.prune(keep=0) == [old.version] and not old.path.exists()
    assert modes(envs.interpreter, shared) == before
    assert modes(live.path / "venv" / "bin" / "uwsgi")[0] & 0o111  # the live release still runs


def test_an_env_that_cannot_be_built_fails_the_build_leaving_nothing(tmp_path: Path, envs: FakeEnvs) -> None:
    src = make_source(tmp_path / "src")
    store = store_for(tmp_path, envs)
    envs.fail = "pip could not install the requirements of requirements.txt"
    with pytest.raises(
        ReleaseError, match="the environment of proj could not be built: pip could not install"
    ):
        store.build(load(src), now=WHEN, log=quiet)
    assert store.versions() == []
    assert not store.root.exists() or not list(store.root.iterdir())


def test_syntax_error_fails_the_build(tmp_path: Path, envs: FakeEnvs) -> None:
    src = make_source(tmp_path / "src")
    (src / "pkg" / "bad.py").write_text("def broken(:\n")
    store = store_for(tmp_path, envs)
    with pytest.raises(ReleaseError, match="byte-compiling"):
        store.build(load(src), now=WHEN, log=quiet)
    assert store.versions() == []
    assert not list(store.root.iterdir())  # no half-built folder either
    # The cleanup left the cached env and the interpreter as they were.
    env = envs.env(envs.keys[-1])
    assert modes(envs.interpreter, env / "bin" / "uwsgi") == [0o755, 0o755]


def test_a_project_module_shadowing_the_integration_is_refused(tmp_path: Path, envs: FakeEnvs) -> None:
    src = make_source(tmp_path / "src")
    (src / "guard").mkdir()
    store = store_for(tmp_path, envs)
    with pytest.raises(ReleaseError, match="guard"):
        store.build(load(src), now=WHEN, log=quiet)
    assert envs.keys == [] and store.versions() == []


def test_cached_envs_no_release_uses_are_pruned_after_their_grace(tmp_path: Path) -> None:
    var = tmp_path / "var"
    cache = var / "envs"
    for key in ("used", "fleet", "old", "young"):
        (cache / key / "bin").mkdir(parents=True)
    (cache / ".building-x-1").mkdir()
    for meta, key in ((var / "local" / "releases" / "v1", "used"),
                      (var / "fl" / "hosts" / "web1" / "fl" / "releases" / "v2", "fleet")):  # fmt: skip
        meta.mkdir(parents=True)
        (meta / "release.json").write_text(json.dumps({"env": key}))
    now = time.time()
    for key in ("used", "fleet", "old"):
        os.utime(cache / key, (now - 7200, now - 7200))
    assert prune_envs(cache, var, now=now) == ["old"]
    assert sorted(p.name for p in cache.iterdir()) == [".building-x-1", "fleet", "used", "young"]
