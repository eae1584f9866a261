"""Pure pieces of the rolling deploy: batches, rollback target, readyz body, the lock, the log."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.commands.oplog import LockedError, Tee, deploy_lock
from deploy.commands.rolling import batches, readyz_release, rollback_target


def test_batches_follow_boot_limit() -> None:
    assert batches(["web1", "web2", "web3"], 1) == [["web1"], ["web2"], ["web3"]]
    assert batches(["web1", "web2", "web3"], 2) == [["web1", "web2"], ["web3"]]
    assert batches(["web1"], 0) == [["web1"]]
    assert batches([], 1) == []


def test_rollback_target() -> None:
    assert rollback_target(["a", "b"], {"web1": "b", "web2": "b"}) == "a"
    # A deploy of c stopped half-way (web1 on c, history still ends with b): back to b.
    assert rollback_target(["a", "b"], {"web1": "c", "web2": "b"}) == "b"
    assert rollback_target(["a"], {"web1": "a"}) is None
    assert rollback_target([], {}) is None


def test_readyz_release() -> None:
    assert readyz_release(b'{"ready": true, "release": "abc"}') == "abc"
    assert readyz_release(b"<html>") is None
    assert readyz_release(b"[1]") is None


def test_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    lock = tmp_path / "run" / "deploy.lock"
    with deploy_lock(lock), pytest.raises(LockedError, match="another deploy"), deploy_lock(lock):
        pass
    with deploy_lock(lock):  # released afterwards
        pass


def test_tee_appends_to_the_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log" / "deploy.log"
    for text in ("one\n", "two\n"):
        tee = Tee(log)
        tee.write(text)
        tee.flush()
        tee.close()
    assert log.read_text() == "one\ntwo\n"
    assert capsys.readouterr().out == "one\ntwo\n"
