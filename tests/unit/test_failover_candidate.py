"""Choosing the replica a planned switchover promotes."""

from __future__ import annotations

import pytest

from deploy.commands.failover import choose_candidate
from deploy.commands.state import ClusterError
from tests.unit.fixtures import small


def test_first_streaming_replica_by_default() -> None:
    db = list(small().by_role("db"))
    assert choose_candidate(db, "db1", None, {"db2"}).name == "db2"


def test_a_synchronous_standby_first() -> None:
    db = list(small().by_role("db"))
    assert choose_candidate(db, "db2", None, {"db1"}, frozenset({"db1"})).name == "db1"
    assert choose_candidate(db, "db2", "db1", {"db1"}, frozenset()).name == "db1"


@pytest.mark.parametrize(
    ("wanted", "streaming", "message"),
    [
        ("db9", {"db2"}, "no such DB node"),
        ("db1", {"db2"}, "already the leader"),
        ("db2", set(), "not a streaming replica"),
        (None, set(), "no streaming replica to fail over to"),
    ],
)
def test_impossible_choices_are_refused_clearly(wanted, streaming, message) -> None:
    with pytest.raises(ClusterError, match=message):
        choose_candidate(list(small().by_role("db")), "db1", wanted, streaming)
