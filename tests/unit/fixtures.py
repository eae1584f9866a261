"""A small hand-made topology, fixed paths/secrets and a made-up release for renderer tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from deploy.model.app import AppSpec, UrlClasses
from deploy.model.paths import StatePaths
from deploy.model.release import Release
from deploy.model.secrets import Secrets
from deploy.model.topology import Topology
from deploy.roles import loads

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
[queue.queue1]
address = "127.9.1.11"
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
[pgbouncer.pgbouncer]
address = "127.9.2.11"
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


# A project as its tiers.toml would declare it (never read from disk: renderers only see the release's meta).
# Its one secret is the one Secrets.fixed_for_tests() holds a value for.
SPEC = AppSpec(
    source=Path("/src/shop"),
    name="shop",
    settings="shop.settings",
    wsgi="shop.wsgi:application",
    requirements="requirements.txt",
    worker="python manage.py tasks_worker",
    env={"SITE_NAME": "Shop"},
    secrets=("APP_TOKEN",),
    urls=UrlClasses(
        login=(r"^/accounts/login/$",),
        checkout=(r"^/events/[0-9]+/buy$",),
        waiting_room=(r"^/events/[0-9]+/queue$",),
    ),
)


def app_spec(**changes: object) -> AppSpec:
    """:data:`SPEC` with some keys changed (``worker=""``, ``keep=("CACHES",)``...)."""
    return dataclasses.replace(SPEC, **changes)


def fake_release(version: str = "v1", root: Path = Path("/srv/rel"), spec: AppSpec | None = None) -> Release:
    """A release as the store would return it, at ``root/version``; nothing exists on disk."""
    meta = {"version": version, "app": (spec or SPEC).to_dict()}
    return Release(version, root / version, meta)


# Non-default values everywhere (other ports, names, sizes): the proxy renderers' exact-output tests.
VARIED_TOPOLOGY = """
[cluster]
name = "unit"

[lb.front]
address = "10.0.0.1"
port = 80
https_port = 443
stats_port = 8404
maxconn = 500
timeout_queue_s = 7
max_queued = 150
retry_after_s = 3
threads = 2
server_pipeline = 2
public_host = "shop.example.com"
tls_cert = "/etc/tiers/tls/site.pem"
acme_challenge_to = "127.0.0.1:8402"
hsts_max_age_s = 600
request_timeout_s = 12
max_body_mb = 25
client_max_connections = 40
client_max_requests_per_10s = 300
limits_exempt = ["10.0.9.0/24", "192.0.2.7"]

[web.web1]
address = "10.0.1.1"
processes = 2
threads = 4
harakiri_s = 20
weight = 50

[web.web2]
address = "10.0.1.2"
port = 8001
check_port = 8011
harakiri_s = 40

[queue.queue1]
address = "10.0.1.11"
port = 8100
check_port = 8101
harakiri_s = 15

[db.db1]
address = "10.0.2.1"
role = "primary"

[db.db2]
address = "10.0.2.2"
port = 5433
rest_port = 8009
role = "replica"

[etcd.etcd]
address = "10.0.2.9"

[dbproxy.pgproxy]
address = "10.0.2.10"
port = 6432
stats_port = 8405
maxconn = 300

[cache.cache1]
address = "10.0.3.1"

[s3.store]
address = "10.0.4.1"
port = 9000

[media.cdn]
address = "10.0.4.2"
port = 8080
https_port = 443
hsts_max_age_s = 600
cache_size_mb = 1000

[storage]
media_bucket = "m-bucket"
static_bucket = "s-bucket"
"""
