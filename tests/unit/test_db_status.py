"""The DB node's `make status` line, from Patroni's /patroni document."""

from __future__ import annotations

import json

from deploy.roles import ROLES
from deploy.roles.base import StatusView
from tests.unit.fixtures import small


class Patroni:
    """Answers /patroni with a fixed document (a Prober for this pure formatting test)."""

    def __init__(self, doc: dict) -> None:
        self.doc = doc

    def http_get(self, address, port, path="/", host=None, timeout=2.0):
        return 200, {}, json.dumps(self.doc).encode()

    def tcp_open(self, address, port, timeout=1.0):
        return True


def line(doc: dict) -> tuple[str, str]:
    return ROLES["db"].status(small().node("db2"), StatusView(probe=Patroni(doc)))


def test_synchronous_standby_is_named() -> None:
    xlog = {"received_location": 100, "replayed_location": 90}
    doc = {"role": "replica", "state": "running", "timeline": 3, "sync_standby": True, "xlog": xlog}
    assert line(doc) == ("ok", "synchronous replica timeline 3, replay lag 10 B running")
    doc.pop("sync_standby")
    assert line(doc) == ("ok", "replica timeline 3, replay lag 10 B running")
