"""Rolling deploy and rollback of the web tier through HAProxy's runtime API.

``deploy``: build (or reuse) an immutable release, refuse contract-breaking migrations, migrate
once against the primary with the new code, then switch the web nodes ``boot_limit`` at a time:

    drain (runtime API) -> wait until HAProxy's `scur` is 0 (bounded) -> maint -> render the node's
    uWSGI ini on the new release -> restart it -> wait for its own /readyz 200 reporting the new
    release (bounded) -> ready (slowstart ramps it up) -> wait until HAProxy says UP -> next.

drain -> maint -> ready, never drain -> ready: with per-server maxconn and a standing queue a
server taken from drain straight back to ready stayed UP but got no traffic (field notes).
Waiting for HAProxy's UP before the next node keeps at least one node serving throughout.

A node that does not become ready is switched back to its old release (restart, ready), the
deploy stops there, the untouched nodes stay on the old release and the command exits non-zero.
A lock file (fcntl) makes a second deploy, rollback or scale refuse to start; every line of
progress also goes to ``var/<cluster>/log/deploy.log``.

``rollback``: the same switch to the previous release (or, after a deploy that stopped half-way,
back to the live one). Migrations are never reversed: the schema stays at the newer release's,
which the older release can live with because the guard refused anything else.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from . import migration_guard
from .configs import render_all
from .haproxy_api import HAProxyAPI
from .progress import Progress
from .releases import Release, ReleaseError, previous_version
from .render.haproxy import LB_BACKEND

if TYPE_CHECKING:
    from .cluster import Cluster


class DeployError(RuntimeError):
    """The deploy stopped; the message says where, why and in which state it left the nodes."""


@dataclass(frozen=True)
class RolloutOptions:
    boot_limit: int = 1
    # Bound on waiting for a drained node's in-flight requests (HAProxy scur) to finish.
    drain_timeout_s: float = 30.0
    # Bound on a restarted node answering /readyz 200 with the new release.
    ready_timeout_s: float = 45.0
    # Bound on HAProxy marking a node UP after `state ready` (rise 2 x inter 1s).
    up_timeout_s: float = 15.0


# ------------------------------------------------------------------ pure pieces
def batches(nodes: list[str], boot_limit: int) -> list[list[str]]:
    """The nodes in groups of ``boot_limit`` (at least 1), in order."""
    size = max(1, boot_limit)
    return [nodes[i : i + size] for i in range(0, len(nodes), size)]


def server_row(stats: list[dict[str, str]], backend: str, server: str) -> dict[str, str] | None:
    for row in stats:
        if row.get("pxname") == backend and row.get("svname") == server:
            return row
    return None


def rollback_target(history: list[str], node_versions: dict[str, str]) -> str | None:
    """After a half-done deploy (some node not on the live release) go back to the live release;
    otherwise to the one before it."""
    if history and any(v != history[-1] for v in node_versions.values()):
        return history[-1]
    return previous_version(history)


def readyz_release(body: bytes) -> str | None:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return None
    return data.get("release") if isinstance(data, dict) else None


# ------------------------------------------------------------------ log + lock
class Tee:
    """A text stream writing to the terminal and appending to the deploy log."""

    def __init__(self, log_path: Path, stream: TextIO | None = None) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.stream = stream or sys.stdout
        self.log = log_path.open("a")

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.log.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
        self.log.flush()

    def close(self) -> None:
        self.log.close()


@contextlib.contextmanager
def deploy_lock(path: Path) -> Iterator[None]:
    """Exclusive, non-blocking: a second deploy/rollback/scale refuses instead of waiting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise DeployError(
                f"another deploy, rollback or scale is running ({holder}); lock {path}"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def operation(cluster: Cluster, title: str) -> Iterator[Progress]:
    """Lock + a Progress whose lines also go to the deploy log."""
    tee = Tee(cluster.paths.log / "deploy.log")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    tee.log.write(f"\n=== {stamp} {title}\n")
    try:
        with deploy_lock(cluster.paths.run / "deploy.lock"):
            progress = Progress(title, stream=tee)
            try:
                yield progress
            except BaseException as exc:
                tee.log.write(f"=== FAILED after {progress.elapsed():.1f}s: {exc}\n")
                raise
            progress.say(f"done in {progress.elapsed():.1f}s")
    finally:
        tee.close()


# ------------------------------------------------------------------ the switch
class Rollout:
    def __init__(self, cluster: Cluster, progress: Progress, options: RolloutOptions) -> None:
        self.cluster = cluster
        self.progress = progress
        self.options = options
        self.api = HAProxyAPI(cluster.paths.haproxy_admin_sock)
        self.store = cluster.releases

    # -- HAProxy
    def _row(self, node: str) -> dict[str, str]:
        row = server_row(self.api.stats(), LB_BACKEND, node)
        if row is None:
            raise DeployError(f"HAProxy has no server {LB_BACKEND}/{node}")
        return row

    def _wait(self, check: Callable[[], object], what: str, timeout: float, interval: float = 0.1) -> object:
        deadline = time.monotonic() + timeout
        last = None
        while True:
            with contextlib.suppress(OSError, ValueError, http.client.HTTPException):
                last = check()
                if last:
                    return last
            if time.monotonic() >= deadline:
                raise DeployError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(interval)

    def drain(self, node: str) -> None:
        self.api.set_state(LB_BACKEND, node, "drain")
        self._wait(
            lambda: self._row(node)["scur"] == "0",
            f"{node}'s in-flight requests",
            self.options.drain_timeout_s,
        )
        self.api.set_state(LB_BACKEND, node, "maint")

    def put_back(self, node: str) -> None:
        self.api.set_state(LB_BACKEND, node, "ready")
        self._wait(
            lambda: self._row(node)["status"] == "UP", f"HAProxy to mark {node} UP", self.options.up_timeout_s
        )

    # -- the node
    def restart_on(self, node: str, release: Release) -> None:
        """Render the node's uWSGI ini on ``release`` and restart its program."""
        cluster = self.cluster
        wanted = {**cluster.node_releases(), node: (release.app, release.version)}
        ini = cluster.paths.conf_file(f"uwsgi-{node}.ini")
        for cf in render_all(cluster.topo, cluster.paths, cluster.secrets, wanted):
            if cf.path == ini:
                tmp = ini.with_name(ini.name + ".tmp")
                tmp.write_text(cf.content)
                tmp.chmod(cf.mode)
                os.replace(tmp, ini)
        sup = cluster.supervisor
        sup.stop(node)
        self.store.set_node(node, release.version)
        sup.start(node, wait=False)

    def wait_ready(self, node: str, version: str) -> None:
        from . import probes

        n = self.cluster.topo.node(node)
        sup = self.cluster.supervisor

        def ready() -> bool:
            state = sup.info(node)["statename"]
            if state in ("FATAL", "BACKOFF", "EXITED", "STOPPED"):
                raise DeployError(f"{node} did not start on release {version} (supervisord: {state}); "
                                  f"see `python -m deploy logs {node}`")  # fmt: skip
            status, _h, body = probes.http_get(n.address, n.port, "/readyz", timeout=3.0)
            return status == 200 and readyz_release(body) == version

        self._wait(ready, f"{node} /readyz 200 on release {version}", self.options.ready_timeout_s, 0.25)

    def switch(self, nodes: list[str], release: Release) -> None:
        """Switch a batch of nodes to ``release``; on failure put each back on its old release."""
        old = {n: self.store.node_versions().get(n) for n in nodes}
        say = self.progress
        label = ",".join(nodes)
        drained: list[str] = []
        try:
            for node in nodes:
                with say.step(f"{node}: drain, wait for in-flight requests, maint"):
                    drained.append(node)
                    self.drain(node)
        except (DeployError, OSError, RuntimeError) as exc:
            # Still on the old release: back into rotation (maint -> ready, never drain -> ready).
            for node in drained:
                with contextlib.suppress(DeployError, OSError, RuntimeError):
                    self.api.set_state(LB_BACKEND, node, "maint")
                    self.put_back(node)
            raise DeployError(
                f"{label}: drain failed ({exc}); nothing was switched, the deploy stopped"
            ) from exc
        try:
            for node in nodes:
                with say.step(f"{node}: restart on {release.version}"):
                    self.restart_on(node, release)
            for node in nodes:
                with say.step(f"{node}: wait for /readyz"):
                    self.wait_ready(node, release.version)
        except (DeployError, OSError, ReleaseError, xmlrpc.client.Fault) as exc:
            say.say(f"{label}: not ready ({exc}); switching back")
            for node in nodes:
                self._revert(node, old[node])
            raise DeployError(
                f"{label} did not become ready on release {release.version}: {exc}. "
                f"{label} went back to {', '.join(sorted({v or '?' for v in old.values()}))}; "
                f"nodes not yet switched were not touched. The deploy stopped."
            ) from exc
        for node in nodes:
            with say.step(f"{node}: ready (slowstart), wait for HAProxy UP"):
                self.put_back(node)

    def _revert(self, node: str, version: str | None) -> None:
        if not version:
            raise DeployError(f"{node} has no previous release to go back to; it is left in maint")
        release = self.store.get(version)
        with self.progress.step(f"{node}: back on {version}"):
            self.restart_on(node, release)
            self.wait_ready(node, version)
            self.put_back(node)

    def roll(self, release: Release) -> list[str]:
        """Switch every web node not yet on ``release``; returns the nodes switched."""
        web = self.cluster.topo.web
        if len(web) > 1 and self.options.boot_limit >= len(web):
            raise DeployError(
                f"--boot-limit {self.options.boot_limit} would take all {len(web)} web nodes out at once; "
                f"use at most {len(web) - 1}"
            )
        pointers = self.store.node_versions()
        stats = self.api.stats()
        # A node an interrupted run left out of rotation is switched again even if its pointer says done.
        todo = [
            n.name
            for n in web
            if pointers.get(n.name) != release.version
            or (server_row(stats, LB_BACKEND, n.name) or {}).get("status", "").startswith(("MAINT", "DRAIN"))
        ]
        for batch in batches(todo, self.options.boot_limit):
            self.switch(batch, release)
        return todo


# ------------------------------------------------------------------ commands
def django_in_release(
    cluster: Cluster, release: Release, args: list[str]
) -> subprocess.CompletedProcess[str]:
    """manage.py ``args`` with the release's code and the cluster's environment (first web node's)."""
    env = cluster.django_env()
    env["PYTHONPATH"] = str(release.app)
    env["TIERS_RELEASE"] = release.version
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    argv = [str(cluster.paths.venv / "bin" / "python"), str(release.app / "manage.py"), *args]
    return subprocess.run(argv, env=env, cwd=release.app, capture_output=True, text=True, timeout=600)


def guard_migrations(
    cluster: Cluster, release: Release, allow_breaking: bool, progress: Progress
) -> list[dict]:
    with progress.step("reading pending migrations with the new release's code"):
        out = django_in_release(cluster, release, ["shell", "--no-imports", "-c", migration_guard.PROBE])
        if out.returncode != 0:
            raise DeployError(
                f"the new release cannot load its migrations:\n{(out.stderr or out.stdout)[-2000:]}"
            )
        pending = migration_guard.parse_probe_output(out.stdout)
    progress.say(f"pending migrations: {migration_guard.pending_summary(pending)}")
    findings = migration_guard.classify(pending)
    if findings and not allow_breaking:
        raise DeployError(migration_guard.explain(findings) + "\nNo node was changed.")
    for f in findings:
        progress.say(f"--allow-breaking: going ahead despite {f}")
    return pending


def deploy(
    cluster: Cluster,
    source: Path,
    options: RolloutOptions,
    allow_breaking: bool = False,
    keep: int = 5,
) -> str:
    with operation(cluster, f"deploy of {source} to cluster {cluster.topo.cluster.name!r}") as progress:
        store = cluster.releases
        with progress.step("building the release"):
            release = store.find_same(source) or store.build(source, cluster.paths.venv / "bin" / "python")
            store.check_dependencies(release)
        progress.say(f"release {release.version}")
        live = store.live()
        pending = guard_migrations(cluster, release, allow_breaking, progress)
        if pending:
            with progress.step("migrating the primary with the new release's code"):
                out = django_in_release(cluster, release, ["migrate", "--noinput"])
                if out.returncode != 0:
                    raise DeployError(
                        f"migrate failed; no node was changed:\n{(out.stderr or out.stdout)[-2000:]}"
                    )
        if live is None or store.get(live).meta.get("static_sha256") != release.meta.get("static_sha256"):
            with progress.step("collecting the new release's static files into S3"):
                out = django_in_release(cluster, release, ["collectstatic", "--noinput"])
                if out.returncode != 0:
                    raise DeployError(
                        f"collectstatic failed; no node was changed:\n{(out.stderr or out.stdout)[-2000:]}"
                    )
        switched = Rollout(cluster, progress, options).roll(release)
        if not switched:
            progress.say(f"every web node already runs {release.version}")
        store.record_live(release.version)
        _restart_workers(cluster, progress)
        pruned = store.prune(keep)
        if pruned:
            progress.say(f"pruned old releases: {', '.join(pruned)}")
        return release.version


def rollback(cluster: Cluster, options: RolloutOptions) -> str:
    with operation(cluster, f"rollback of cluster {cluster.topo.cluster.name!r}") as progress:
        store = cluster.releases
        state = store.load_state()
        target = rollback_target(state["history"], state["nodes"])
        if target is None:
            raise DeployError(
                "no previous release to roll back to (history: " + ", ".join(state["history"]) + ")"
            )
        release = store.get(target)
        store.check_dependencies(release)
        progress.say(f"rolling back to {target}; migrations are NOT reversed (the schema stays as it is)")
        Rollout(cluster, progress, options).roll(release)
        store.record_rollback(target)
        _restart_workers(cluster, progress)
        return target


def _restart_workers(cluster: Cluster, progress: Progress) -> None:
    if not cluster.topo.workers:
        return
    with progress.step(
        f"restarting workers ({', '.join(n.name for n in cluster.topo.workers)}) on the live release"
    ):
        cluster.follow_live_release()
