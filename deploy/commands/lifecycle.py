"""`up`, `down` and `clean` of a local cluster: the thin sequencer over hosts, supervision, PostgreSQL
administration and Django operations.

``up`` is idempotent: it renders every config, writes only what changed, starts supervisord (or
tells the running one about changes), reloads or restarts only the nodes whose config changed, and
waits for each tier to be really ready (no fixed sleeps), in the roles' start order.
"""

from __future__ import annotations

import shutil

from ..clients import probes
from ..model.topology import Node, TopologyError
from ..render.haproxy import STATS_USER
from ..roles import ROLES, by_priority, role_of
from ..roles.base import RenderContext
from ..roles.db import primary
from . import backup, django_ops, supervision
from .context import Cluster
from .postgres import synchronous_settings
from .progress import Progress

# Roles below this priority must be ready before the database tier starts (etcd); roles from the
# DB tier up to it before migrations (dbproxy, cache, s3); the rest after them (web, worker, media, lb).
DB_PRIORITY = ROLES["db"].priority
APP_PRIORITY = 50


def up(cluster: Cluster, seed: bool = True) -> None:
    topo = cluster.topo
    progress = Progress(f"Bringing up cluster {topo.cluster.name!r} ({len(topo.nodes)} nodes, {topo.source})")
    cluster.place.prepare(progress)
    fresh = not cluster.pg.initialized(primary(topo))
    roles = by_priority()
    _wait_roles(cluster, progress, [r for r in roles if r.priority < DB_PRIORITY])
    _start_database(cluster, progress, fresh)
    _wait_roles(cluster, progress, [r for r in roles if DB_PRIORITY < r.priority < APP_PRIORITY])
    with progress.step(f"waiting for dbproxy {topo.one('dbproxy').endpoint} to reach the primary"):
        probes.wait_for(cluster.pg.dbproxy_reaches_primary, "dbproxy -> primary", 30)
    # The S3 store is up by now: the backup repository and WAL archiving (docs/DATABASE.md "Backups").
    backup.ensure_stanza(cluster, progress)
    _django_setup(cluster, progress, seed)
    _wait_roles(cluster, progress, [r for r in roles if r.priority >= APP_PRIORITY])
    _say_where(cluster, progress)


def _wait_roles(cluster: Cluster, progress: Progress, roles: list) -> None:
    for role in roles:
        nodes = cluster.topo.by_role(role.name)
        if nodes:
            with progress.step(f"waiting for {role.name} ({', '.join(n.name for n in nodes)})"):
                supervision.wait_ready(cluster.place, nodes)
        if nodes and role.setup is not None:
            with progress.step(f"{role.name} setup on {nodes[0].name}"):
                run_setup(cluster, nodes[0])


def run_setup(cluster: Cluster, node: Node) -> None:
    """The role's one-time setup commands (idempotent), on the node's host, with its role's secrets."""
    role = role_of(node)
    assert role.setup is not None
    ctx = RenderContext(cluster.topo, cluster.place.host_paths(node), cluster.secrets.only(role.secrets))
    for command in role.setup(ctx, node):
        cluster.place.transport(node).run(list(command.argv), input=command.input, timeout=60)


def _start_database(cluster: Cluster, progress: Progress, fresh: bool) -> None:
    topo, place, pg = cluster.topo, cluster.place, cluster.pg
    if pg.leader() is None:
        first = primary(topo) if fresh else _last_leader(cluster)
        with progress.step(
            f"starting {first.name} first ({'bootstraps' if fresh else 'was the last leader'})"
        ):
            place.supervisor(first).start(first.name, wait=False)
    with progress.step("waiting for a Patroni leader"):
        leader = probes.wait_for(pg.leader, "a Patroni leader", 90)
    progress.say(f"leader is {leader.name}")
    with progress.step("starting every node"):
        for sup in place.supervisors():
            for name, info in sup.processes().items():
                if info["statename"] not in ("RUNNING", "STARTING"):
                    sup.start(name, wait=False)
    with progress.step("ensuring the application role and database"):
        # Right after bootstrap Patroni restarts PostgreSQL once: retry through that.
        probes.wait_for(pg.try_ensure_app_database, "the leader to accept the app role's SQL", 60)
    replicas = len(topo.by_role("db")) - 1
    with progress.step(f"waiting for {replicas} streaming replica(s)"):
        probes.wait_for(lambda: pg.streaming_count() >= replicas, "replicas streaming", 120)
    with progress.step("applying the topology's synchronous replication settings"):
        # bootstrap.dcs reaches only a new cluster; this brings an existing one in line with the topology.
        pg.set_dcs(synchronous_settings(topo))
        if topo.database.synchronous_mode:
            probes.wait_for(pg.settled_sync_standbys, "a synchronous standby", 60)


def _django_setup(cluster: Cluster, progress: Progress, seed: bool) -> None:
    release = cluster.live_release()
    spec = release.spec
    with progress.step(f"running {spec.name}'s migrations on the primary"):
        # With the live release, as workers and `manage` run it; `deploy` is the guarded path.
        django_ops.manage(cluster, ["migrate", "--noinput"], quiet=True)
    stamp = cluster.paths.root / "static.stamp"
    fingerprint = str(release.meta.get("static_sha256", ""))
    if not spec.static:
        progress.say("static files: off in tiers.toml")
    elif not stamp.exists() or stamp.read_text() != fingerprint:
        with progress.step("collecting static files into S3"):
            django_ops.manage(cluster, ["collectstatic", "--noinput"], quiet=True)
            stamp.write_text(fingerprint)
    else:
        progress.say("static files unchanged since the last collectstatic: skipped")
    if seed and cluster.topo.cluster.profile == "local" and django_ops.has_command(release, "seed_demo"):
        with progress.step("seeding demo data (the project's seed_demo command)"):
            django_ops.manage(cluster, ["seed_demo"], quiet=True)


def _say_where(cluster: Cluster, progress: Progress) -> None:
    topo = cluster.topo
    lb, media = topo.one("lb"), topo.one("media")
    local = topo.cluster.profile == "local"
    progress.say(f"cluster {topo.cluster.name!r} is up")
    print(f"\n  Site:          https://{lb.address}:{lb.opt('https_port')}/  (HTTP/2)")
    plain = "plain HTTP, for scripts" if local else "redirects to HTTPS"
    print(f"                 http://{lb.address}:{lb.port}/  ({plain})")
    print(f"  CA file:       {cluster.paths.ca_cert}  (curl --cacert <it>; what the certificates chain to)")
    stats = f"user {STATS_USER}, password " + (
        cluster.secrets.lb_stats_password if local else "in secrets.json"
    )
    print(f"  HAProxy stats: http://{lb.address}:{lb.opt('stats_port')}/  ({stats})")
    print(
        f"  Media:         https://{media.address}:{media.opt('https_port')}/  and  http://{media.address}:{media.port}/"
    )
    release = cluster.live_release()
    print(f"  App:           {release.spec.name} ({release.spec.source}), release {release.version}")
    if local and django_ops.has_command(release, "seed_demo"):
        print("  Demo buyers:   demo / demo, demo2 / demo2   (organizer: organizer / organizer at /admin/)")
    print("  Status:        make status    Logs: make logs    Stop: make down\n")


def _last_leader(cluster: Cluster) -> Node:
    """The DB node that led when the cluster was last stopped (it has the newest data)."""
    try:
        return cluster.topo.node(cluster.paths.last_leader.read_text().strip())
    except (OSError, TopologyError):
        return primary(cluster.topo)


def shutdown_order(cluster: Cluster, names: list[str], leader: str | None) -> list[str]:
    """Highest start priority first (lb and web first, the database last), the leader last of all.

    Replicas before the leader: stopping the leader first would make a replica take over (a needless
    failover and a new timeline) just before it is stopped too.
    """
    topo = cluster.topo
    return sorted(names, key=lambda n: (-role_of(topo.node(n)).priority, n == leader))


def down(cluster: Cluster) -> None:
    progress = Progress(f"Stopping cluster {cluster.topo.cluster.name!r}")
    place = cluster.place
    running = [procs for sup in place.supervisors() if (procs := sup.processes_if_running())]
    if running:
        with progress.step(
            "stopping every node (web and lb first, the database last, its leader last of all)"
        ):
            leader = cluster.pg.leader()
            if leader is not None:
                cluster.paths.root.mkdir(parents=True, exist_ok=True)
                cluster.paths.last_leader.write_text(leader.name)
            known = {n.name: n for n in cluster.topo}
            names = [n for procs in running for n in procs if n in known]
            for name in shutdown_order(cluster, names, leader.name if leader else None):
                place.supervisor(known[name]).stop(name)
    else:
        progress.say("no process manager is running: nothing to stop")
    place.teardown(progress)
    progress.say("stopped; data kept (make clean wipes it)")


def clean(cluster: Cluster) -> None:
    down(cluster)
    if cluster.paths.root.exists():
        shutil.rmtree(cluster.paths.root)
    print(f"removed {cluster.paths.root}")
