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
import json
import subprocess
import xmlrpc.client
from dataclasses import dataclass

from ..clients import haproxy, probes
from ..model.app import AppSpec
from ..model.defaults import DRAIN_TIMEOUT_S, READY_TIMEOUT_S, UP_TIMEOUT_S
from ..render.haproxy import LB_BACKEND
from ..roles import live_followers
from ..roles.web import readyz
from . import migration_guard
from .appcheck import check_app_secrets, check_settings
from .context import Cluster
from .django_ops import run_manage
from .oplog import operation
from .progress import Progress
from .releases import Release, ReleaseError, previous_version


class DeployError(RuntimeError):
    """The deploy stopped; the message says where, why and in which state it left the nodes."""


@dataclass(frozen=True)
class RolloutOptions:
    boot_limit: int = 1
    # Bound on waiting for a drained node's in-flight requests (HAProxy scur) to finish.
    drain_timeout_s: float = DRAIN_TIMEOUT_S
    # Bound on a restarted node answering /readyz 200 with the new release.
    ready_timeout_s: float = READY_TIMEOUT_S
    # Bound on HAProxy marking a node UP after `state ready` (rise 2 x inter 1s).
    up_timeout_s: float = UP_TIMEOUT_S


# ------------------------------------------------------------------ pure pieces
def batches(nodes: list[str], boot_limit: int) -> list[list[str]]:
    """The nodes in groups of ``boot_limit`` (at least 1), in order."""
    size = max(1, boot_limit)
    return [nodes[i : i + size] for i in range(0, len(nodes), size)]


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


# ------------------------------------------------------------------ the switch
class Rollout:
    def __init__(self, cluster: Cluster, progress: Progress, options: RolloutOptions) -> None:
        self.cluster = cluster
        self.progress = progress
        self.options = options
        lb = cluster.topo.one("lb")
        self.api = cluster.place.runtime_api(lb, cluster.place.host_paths(lb).haproxy_admin_sock)
        self.store = cluster.releases

    # -- HAProxy: the one drain/put-back sequence (deploy/clients/haproxy.py)
    def drain(self, node: str) -> None:
        haproxy.drain(self.api, LB_BACKEND, node, self.options.drain_timeout_s)

    def put_back(self, node: str) -> None:
        haproxy.put_back(self.api, LB_BACKEND, node, self.options.up_timeout_s)

    # -- the node
    def restart_on(self, node: str, release: Release) -> None:
        """The node's program restarted on ``release`` (its host renders the node's config for it)."""
        self.cluster.place.switch(self.cluster.topo.node(node), release)
        self.store.set_node(node, release.version)

    def wait_ready(self, node: str, version: str) -> None:
        n = self.cluster.topo.node(node)
        sup = self.cluster.place.supervisor(n)

        def ready() -> bool:
            state = sup.info(node)["statename"]
            if state in ("FATAL", "BACKOFF", "EXITED", "STOPPED"):
                raise DeployError(f"{node} did not start on release {version} (supervisord: {state}); "
                                  f"see `python -m deploy logs {node}`")  # fmt: skip
            status, _h, body = readyz(n, self.cluster.place.prober(n))
            return status == 200 and readyz_release(body) == version

        probes.wait_for(ready, f"{node} /readyz 200 on release {version}", self.options.ready_timeout_s)

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
        except (OSError, RuntimeError) as exc:
            # Still on the old release: back into rotation (maint -> ready, never drain -> ready).
            for node in drained:
                with contextlib.suppress(OSError, RuntimeError):
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
        except (OSError, RuntimeError, ReleaseError, xmlrpc.client.Fault) as exc:
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
        web = self.cluster.topo.by_role("web")
        if len(web) > 1 and self.options.boot_limit >= len(web):
            raise DeployError(
                f"--boot-limit {self.options.boot_limit} would take all {len(web)} web nodes out at once; "
                f"use at most {len(web) - 1}"
            )
        pointers = self.store.node_versions()
        servers = self.api.servers(LB_BACKEND)
        # A node an interrupted run left out of rotation is switched again even if its pointer says done.
        todo = [
            n.name
            for n in web
            if pointers.get(n.name) != release.version
            or (servers[n.name].status if n.name in servers else "").startswith(("MAINT", "DRAIN"))
        ]
        for batch in batches(todo, self.options.boot_limit):
            self.switch(batch, release)
        return todo


# ------------------------------------------------------------------ commands
def django_in_release(
    cluster: Cluster, release: Release, args: list[str]
) -> subprocess.CompletedProcess[str]:
    """manage.py ``args`` with the release's code (on the first web node's host) and that node's environment."""
    return run_manage(cluster, args, release=release, extra={"PYTHONDONTWRITEBYTECODE": "1"})


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
    spec: AppSpec,
    options: RolloutOptions,
    allow_breaking: bool = False,
    keep: int = 5,
) -> str:
    what = f"deploy of {spec.name} ({spec.source}) to cluster {cluster.topo.cluster.name!r}"
    with operation(cluster.paths, what) as progress:
        store = cluster.releases
        check_app_secrets(spec, cluster.secrets)
        with progress.step(f"building the release (Python {spec.python}, {spec.requirements})"):
            release = store.find_same(spec) or store.build(spec, log=progress.say)
        progress.say(f"release {release.version}")
        hosts = [*cluster.topo.by_role("web"), *live_followers(cluster.topo)]
        with progress.step("putting the release on the web, worker and queue hosts"):
            for node in hosts:
                cluster.place.ship(node, release)
        # On the first web node's host, as migrations run: a release is placed, no node runs it yet.
        check_settings(cluster, release, progress)
        live = store.live()
        pending = guard_migrations(cluster, release, allow_breaking, progress)
        if pending:
            with progress.step("migrating the primary with the new release's code"):
                out = django_in_release(cluster, release, ["migrate", "--noinput"])
                if out.returncode != 0:
                    raise DeployError(
                        f"migrate failed; no node was changed:\n{(out.stderr or out.stdout)[-2000:]}"
                    )
        static_changed = live is None or store.get(live).meta.get("static_sha256") != release.meta.get(
            "static_sha256"
        )
        if spec.static and static_changed:
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
            for node in hosts:
                cluster.place.prune(node, store.versions())
        return release.version


def rollback(cluster: Cluster, options: RolloutOptions) -> str:
    with operation(cluster.paths, f"rollback of cluster {cluster.topo.cluster.name!r}") as progress:
        store = cluster.releases
        state = store.load_state()
        target = rollback_target(state["history"], state["nodes"])
        if target is None:
            raise DeployError(
                "no previous release to roll back to (history: " + ", ".join(state["history"]) + ")"
            )
        release = store.get(target)
        check_app_secrets(release.spec, cluster.secrets)
        for node in [*cluster.topo.by_role("web"), *live_followers(cluster.topo)]:
            cluster.place.ship(
                node, release
            )  # a no-op where it is already (always, but after a host rebuild)
        progress.say(f"rolling back to {target}; migrations are NOT reversed (the schema stays as it is)")
        Rollout(cluster, progress, options).roll(release)
        store.record_rollback(target)
        _restart_workers(cluster, progress)
        return target


def _restart_workers(cluster: Cluster, progress: Progress) -> None:
    followers = live_followers(cluster.topo)
    if not followers:
        return
    with progress.step(f"restarting {', '.join(n.name for n in followers)} on the live release"):
        cluster.place.follow_live()
