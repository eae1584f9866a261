"""Zero-downtime operations on the real cluster, with load running through HAProxy.

Each test deploys a changed copy of the example project (``deploy --app DIR``), rolls back, or scales, while a
bounded load generator (GETs of /api/events and /api/events/<id>, and purchases) counts every
request that failed; each leaves the cluster as it found it (same release, same web nodes).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from deploy.commands.context import Cluster
from tests.conftest import deploy_cli
from tests.integration.client import BoxOffice
from tests.integration.helpers import copy_source, create_event, deployed_version, lb, manage_py, url

pytestmark = pytest.mark.integration


class Load:
    """A few hundred requests spread over an operation: ``threads`` clients, each pausing ``pause_s``."""

    def __init__(self, base: str, event_id: int, threads: int = 2, pause_s: float = 0.02, limit: int = 1500):
        self.base, self.event_id, self.pause_s, self.limit = base, event_id, pause_s, limit
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.total = 0
        self.failures: list[str] = []
        self.served_by: Counter[str] = Counter()
        self.releases: Counter[str] = Counter()
        users = [("demo", "demo"), ("demo2", "demo2")]
        self.clients = [BoxOffice(base).login(*users[i % 2]) for i in range(threads)]
        self.threads = [threading.Thread(target=self._run, args=(c,), daemon=True) for c in self.clients]

    def _one(self, client: BoxOffice, i: int) -> None:
        kind = i % 3
        try:
            if kind == 0:
                r, ok = client.get("/api/events"), 200
            elif kind == 1:
                r, ok = client.get(f"/api/events/{self.event_id}"), 200
            else:
                r, ok = client.buy(self.event_id, 1), 201
            problem = (
                "" if r.status_code == ok else f"{r.request.method} {r.url} -> {r.status_code} {r.text[:120]}"
            )
            with self.lock:
                self.served_by[r.headers.get("X-Served-By", "?")] += 1
                self.releases[r.headers.get("X-Release", "?")] += 1
        except requests.RequestException as exc:
            problem = f"request {kind}: {type(exc).__name__}: {exc}"
        with self.lock:
            self.total += 1
            if problem:
                self.failures.append(problem)

    def _run(self, client: BoxOffice) -> None:
        i = 0
        while not self.stop_flag.is_set() and self.total < self.limit:
            self._one(client, i)
            i += 1
            time.sleep(self.pause_s)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        time.sleep(0.5)  # load is flowing before the operation starts
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)  # and keeps flowing a little after it
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=30)

    def summary(self) -> str:
        return f"{self.total} requests, {len(self.failures)} failed, served by {dict(self.served_by)}"


def node_release(cluster: Cluster, i: int) -> str:
    return requests.get(f"{url(cluster.topo.by_role('web')[i])}/healthz", timeout=5).headers["X-Release"]


def releases_of_nodes(cluster: Cluster) -> list[str]:
    return [node_release(cluster, i) for i in range(len(cluster.topo.by_role("web")))]


def queue_releases(cluster: Cluster) -> set[str]:
    """What the waiting room's nodes run (they follow the live release, like the workers)."""
    return {
        requests.get(f"{url(n)}/healthz", timeout=5).headers["X-Release"]
        for n in cluster.topo.by_role("queue")
    }


def worker_release_path(cluster: Cluster, name: str) -> str:
    """The manage.py a running worker was started with (its release's path)."""
    pid = cluster.supervisor.info(name)["pid"]
    assert pid, f"{name} is not running"
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.fixture
def event_id(cluster: Cluster) -> int:
    return create_event(100_000, title="Deploy load")


@pytest.fixture
def baseline(cluster: Cluster) -> Iterator[list[str]]:
    """The nodes' releases before the test; afterwards they must be the same again."""
    before = releases_of_nodes(cluster)
    assert len(set(before)) == 1, f"nodes run different releases before the test: {before}"
    yield before
    assert releases_of_nodes(cluster) == before


def test_rolling_deploy_under_load(
    cluster: Cluster, event_id: int, baseline: list[str], tmp_path: Path
) -> None:
    source = copy_source(tmp_path / "src", f"rolling {time.time()}")
    try:
        with Load(lb(cluster), event_id) as load:
            started = time.monotonic()
            out = deploy_cli("deploy", "--source", str(source))
            took = time.monotonic() - started
        version = deployed_version(out.stdout)
        print(f"rolling deploy of 2 nodes: {took:.1f}s wall; load: {load.summary()}")
        assert load.failures == [], load.failures[:10]
        assert load.total >= 100, load.summary()
        assert version != baseline[0]
        # Every node answers with the new release, directly and through the load balancer.
        assert releases_of_nodes(cluster) == [version] * len(cluster.topo.by_role("web"))
        seen = {requests.get(f"{lb(cluster)}/api/events", timeout=5).headers["X-Release"] for _ in range(6)}
        assert seen == {version}
        assert "web1: drain" in out.stdout and "web2: ready" in out.stdout
        assert f"deploy of boxoffice ({source})" in (cluster.paths.log / "deploy.log").read_text()
        # The workers follow: they run the new release's code too.
        assert all(version in worker_release_path(cluster, w.name) for w in cluster.topo.by_role("worker"))
        assert queue_releases(cluster) == {version}
    finally:
        deploy_cli("rollback")
    assert all(baseline[0] in worker_release_path(cluster, w.name) for w in cluster.topo.by_role("worker"))
    assert queue_releases(cluster) == {baseline[0]}


def test_rollback_under_load(cluster: Cluster, event_id: int, baseline: list[str], tmp_path: Path) -> None:
    version = deployed_version(
        deploy_cli("deploy", "--source", str(copy_source(tmp_path / "src", "rb"))).stdout
    )
    assert releases_of_nodes(cluster) == [version] * len(cluster.topo.by_role("web"))
    with Load(lb(cluster), event_id) as load:
        started = time.monotonic()
        out = deploy_cli("rollback")
        took = time.monotonic() - started
    print(f"rollback of 2 nodes: {took:.1f}s wall; load: {load.summary()}")
    assert load.failures == [], load.failures[:10]
    assert load.total >= 100, load.summary()
    assert "migrations are NOT reversed" in out.stdout
    assert releases_of_nodes(cluster) == baseline


def test_release_failing_at_start_aborts_after_the_first_node(
    cluster: Cluster, event_id: int, baseline: list[str], tmp_path: Path
) -> None:
    source = copy_source(tmp_path / "src", "broken")
    # manage.py (migrations) still works; only the WSGI app fails to load, as a bad release would.
    with (source / "boxoffice_site" / "wsgi.py").open("a") as fh:
        fh.write('\nraise RuntimeError("deliberately broken release")\n')
    with Load(lb(cluster), event_id) as load:
        out = deploy_cli("deploy", "--source", str(source), "--ready-timeout", "30", check=False)
    print(f"broken release: exit {out.returncode}; load: {load.summary()}")
    assert out.returncode != 0
    assert "web1 did not become ready" in out.stderr and "went back to" in out.stderr
    assert "web1: back on" in out.stdout
    assert "web2:" not in out.stdout, "the deploy must stop after the first node"
    assert load.failures == [], load.failures[:10]  # the site never stopped serving
    assert releases_of_nodes(cluster) == baseline
    assert cluster.releases.live() == baseline[0]


def test_migration_dropping_a_used_column_is_refused(
    cluster: Cluster, baseline: list[str], tmp_path: Path
) -> None:
    source = copy_source(tmp_path / "src", "contract")
    migrations = source / "boxoffice" / "migrations"
    leaf = max(p.stem for p in migrations.glob("[0-9][0-9][0-9][0-9]_*.py"))
    (migrations / "0999_drop_venue.py").write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [('boxoffice', '{leaf}')]\n"
        "    operations = [migrations.RemoveField('event', 'venue')]\n"
    )
    pointers = cluster.releases.node_versions()
    out = deploy_cli("deploy", "--source", str(source), check=False)
    assert out.returncode != 0
    assert "boxoffice.0999_drop_venue: RemoveField event.venue" in out.stderr
    assert "--allow-breaking" in out.stderr and "No node was changed" in out.stderr
    assert "drain" not in out.stdout
    # Nothing changed: same releases on every node, same pointers, the column still there.
    assert releases_of_nodes(cluster) == baseline
    assert cluster.releases.node_versions() == pointers
    applied = manage_py(
        "from django.db.migrations.recorder import MigrationRecorder; "
        "print(MigrationRecorder.Migration.objects.filter(app='boxoffice', name='0999_drop_venue').count())"
    )
    assert applied == "0"
    assert (
        manage_py("from boxoffice.models import Event; print(Event.objects.values('venue').count() >= 0)")
        == "True"
    )


def test_scale_to_three_and_back_under_load(cluster: Cluster, event_id: int, baseline: list[str]) -> None:
    base = len(cluster.topo.by_role("web"))
    try:
        with Load(lb(cluster), event_id) as load:
            deploy_cli("scale", str(base + 1))
            added = f"web{base + 1}"
            # The new node takes traffic while the load runs.
            deadline = time.monotonic() + 10
            while load.served_by[added] == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert load.served_by[added] > 0, load.summary()
            status = deploy_cli("status").stdout
            assert re.search(rf"^{added}\s+web\s+\S+\s+running\s+ok", status, re.M), status
            deploy_cli("scale", str(base))
        print(f"scale {base}->{base + 1}->{base}: load: {load.summary()}")
        assert load.failures == [], load.failures[:10]
        assert load.total >= 100, load.summary()
        assert added not in deploy_cli("status").stdout
        assert set(load.releases) == {baseline[0]}  # the added node ran the live release
    finally:
        deploy_cli("scale", str(base), check=False)
