"""A small hand-made topology and fixed paths/secrets for renderer tests."""

from __future__ import annotations

from pathlib import Path

from deploy.paths import StatePaths
from deploy.secrets import Secrets
from deploy.topology import Topology, loads

SMALL = """
[cluster]
name = "mini"
[lb.lb]
address = "127.9.0.1"
[web.web1]
address = "127.9.1.1"
[web.web2]
address = "127.9.1.2"
processes = 2
threads = 2
[db.db1]
address = "127.9.2.1"
role = "primary"
[db.db2]
address = "127.9.2.2"
role = "replica"
replica_of = "db1"
[etcd.etcd]
address = "127.9.2.9"
[dbproxy.dbproxy]
address = "127.9.2.10"
[cache.cache1]
address = "127.9.3.1"
[s3.s3]
address = "127.9.4.1"
[media.media]
address = "127.9.4.2"
[worker.worker1]
address = "127.9.5.1"
"""

PATHS = StatePaths(root=Path("/state"), repo=Path("/repo"))
SECRETS = Secrets.fixed_for_tests()


def small() -> Topology:
    return loads(SMALL, "small.toml")
