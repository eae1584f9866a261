"""`python -m deploy [--topology FILE] COMMAND ...`: the operator's entry point."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from .appcli import add_app_commands, choose_app, init_verb, secret_verb
from .clients import probes
from .clients.transport import TransportError
from .commands import backup, lifecycle, logview, restore_drill, rolling
from .commands.bench import SECTIONS as BENCH_SECTIONS
from .commands.bench import run as run_bench
from .commands.context import Cluster
from .commands.django_ops import django_env, manage
from .commands.failover import failover
from .commands.hosts import HostError
from .commands.node_install import host_kill, node_install, read_secrets
from .commands.oplog import LockedError, operation
from .commands.postgres import AdminError, psql_argv
from .commands.release_setup import release_setup
from .commands.releases import ReleaseError, prune_envs
from .commands.scale import load_overlay, scale, scaled
from .commands.state import ClusterError
from .commands.status import status
from .commands.supervision import SupervisionError
from .commands.tf_topology import from_terraform
from .model.app import AppError
from .model.app import load as load_app
from .model.defaults import DRAIN_TIMEOUT_S, READY_TIMEOUT_S
from .model.paths import REPO, StatePaths
from .model.secrets import Secrets
from .model.topology import Topology, TopologyError
from .roles import load
from .roles.base import RenderContext
from .roles.nodes import render_all
from .roles.terraform import render_roles_tf_json

DEFAULT_TOPOLOGY = REPO / "deploy" / "topologies" / "local.toml"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    p.add_argument(
        "--topology", "-t", default=os.environ.get("TIERS_TOPOLOGY", str(DEFAULT_TOPOLOGY)),
        help="topology TOML file (default: $TIERS_TOPOLOGY or deploy/topologies/local.toml)",
    )  # fmt: skip
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="render configs, start every node, wait until ready, print the URL")
    up.add_argument("--no-seed", action="store_true", help="do not load demo data")
    up.add_argument(
        "--app", help="the Django project to serve (its folder; default: the one served, or the example)"
    )
    sub.add_parser("down", help="stop every node (data kept)")
    sub.add_parser("clean", help="stop every node and delete the cluster's state folder")
    sub.add_parser("status", help="every node at a glance")
    sub.add_parser("check", help="validate the topology and render every config (no changes)")
    ni = sub.add_parser(
        "node-install", help="production: render one node's configs and systemd unit, enable it"
    )
    ni.add_argument("node")
    ni.add_argument("--state", default="/var/lib/tiers", help="state folder (default /var/lib/tiers)")
    ni.add_argument("--systemd-dir", default="/etc/systemd/system")
    ni.add_argument("--secrets", help="JSON secrets file, - for stdin (default $TIERS_SECRETS)")
    ni.add_argument("--no-enable", action="store_true", help="write files only")
    ni.add_argument(
        "--manager", choices=("systemd", "supervisord"), default="systemd",
        help="the host's process manager (supervisord where PID 1 is not systemd, e.g. rehearsal hosts)",
    )  # fmt: skip
    ni.add_argument("--release", default="", help="the release (in this host's state folder) the node runs")
    ni.add_argument(
        "--web-count", type=int, default=0, help="web hosts of the file that run (a scaled fleet)"
    )
    rs = sub.add_parser(
        "release-setup", help="production web host: app role (managed DB), then migrate + collectstatic once"
    )
    rs.add_argument("node")
    rs.add_argument("--release", required=True, help="the release's identity (its git commit)")
    rs.add_argument("--secrets", required=True, help="JSON secrets file (the cluster secret; - reads stdin)")
    rs.add_argument("--state", default="/var/lib/tiers", help="state folder (default /var/lib/tiers)")
    rs.add_argument("--db-admin-user", default="", help="managed database's master user (RDS)")
    hk = sub.add_parser(
        "host-kill", help="on a fleet host: SIGKILL its node (what `kill` runs there over SSH)"
    )
    hk.add_argument("node")
    hk.add_argument("--state", default="/var/lib/tiers")
    topo_cmd = sub.add_parser("topology", help="topologies made elsewhere").add_subparsers(
        dest="topology_command", required=True
    )
    ftf = topo_cmd.add_parser(
        "from-terraform", help="the topology in `terraform output -json` (validated), to a file or stdout"
    )
    ftf.add_argument("outputs", nargs="?", default="-", help="terraform output -json's file (default stdin)")
    ftf.add_argument("--out", "-o", default="-", help="where to write the TOML (default stdout)")
    tf = sub.add_parser("terraform-roles", help="write terraform/roles.tf.json from the role registry")
    tf.add_argument("--out", default=str(REPO / "terraform" / "roles.tf.json"))
    fo = sub.add_parser("failover", help="planned switchover of the primary to a replica (Patroni)")
    fo.add_argument("--to", help="the replica to promote (default: the first streaming one)")
    bench = sub.add_parser(
        "bench", help="bounded load runs against the running cluster -> docs/BENCHMARKS.md"
    )
    bench.add_argument("--out", default=str(REPO / "docs" / "BENCHMARKS.md"))
    bench.add_argument(
        "--only", action="append", choices=sorted(BENCH_SECTIONS),
        help="run only this section (repeatable); the others' figures are kept as they are",
    )  # fmt: skip
    logs = sub.add_parser("logs", help="recent log lines of one node or all, merged in time order")
    logs.add_argument("node", nargs="?")
    logs.add_argument("-n", "--lines", type=int, default=30, help="lines shown (the newest, of all nodes)")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="follow the files (raw, as they are written)"
    )
    logs.add_argument("--level", choices=logview.LEVELS, default="debug", help="this severity and above")
    logs.add_argument("--width", type=int, default=logview.DEFAULT_WIDTH, help="cut lines longer than this")
    for name, text in (("stop", "stop a node"), ("start", "start a node"), ("restart", "restart a node"),
                       ("kill", "SIGKILL a node (fault tests); it stays down until `start`")):  # fmt: skip
        sp = sub.add_parser(name, help=text)
        sp.add_argument("node")
    psql = sub.add_parser("psql", help="psql as superuser on a DB node (extra args go to psql)")
    psql.add_argument("node")
    psql.add_argument("args", nargs=argparse.REMAINDER)
    manage = sub.add_parser("manage", help="manage.py against the cluster with a web node's environment")
    manage.add_argument("--node", help="whose environment (default: the first web node)")
    manage.add_argument("args", nargs=argparse.REMAINDER)
    add_operations_commands(sub)
    add_backup_commands(sub)
    add_app_commands(sub)
    return p


def add_backup_commands(sub: argparse._SubParsersAction) -> None:
    """backup / backups / restore-drill / backup-mark (deploy/commands/backup.py, restore_drill.py)."""
    bk = sub.add_parser("backup", help="take a pgBackRest backup now (from a replica where possible)")
    bk.add_argument("--type", default="full", choices=("full", "diff", "incr"))
    sub.add_parser("backups", help="list the backups in the repository (pgbackrest info)")
    rd = sub.add_parser(
        "restore-drill", help="restore into a scratch node at a point in time, verify it, remove it"
    )
    rd.add_argument("--time", help="ISO 8601 (UTC unless an offset is given); default: now")
    sub.add_parser("backup-mark", help="record what the primary holds now (what a drill verifies against)")


def backup_verbs(cluster: Cluster, args: argparse.Namespace) -> int:
    try:
        match args.command:
            case "backup":
                backup.take(cluster, args.type)
                mark = restore_drill.record_mark(cluster)
                print(f"mark {mark.id} recorded at {mark.at}")
            case "backups":
                return backup.list_backups(cluster)
            case "restore-drill":
                result = restore_drill.drill(cluster, args.time)
                print(
                    f"restore drill passed: backup {result.backup_label}, restore {result.restore_s:.1f} s, "
                    f"recovery to the mark {result.recovery_s:.1f} s"
                )
            case "backup-mark":
                mark = restore_drill.record_mark(cluster)
                print(f"mark {mark.id} at {mark.at}: {json.dumps(mark.digests)}")
    except backup.BackupError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    return 0


def add_operations_commands(sub: argparse._SubParsersAction) -> None:
    """deploy / rollback / releases / scale (deploy/commands/rolling.py, releases.py, scale.py)."""

    def rollout_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--boot-limit", type=int, default=1, help="web nodes switched at a time (default 1)")
        sp.add_argument(
            "--drain-timeout",
            type=float,
            default=DRAIN_TIMEOUT_S,
            help="seconds to wait for in-flight requests",
        )
        sp.add_argument(
            "--ready-timeout", type=float, default=READY_TIMEOUT_S, help="seconds for a node's /readyz 200"
        )

    dep = sub.add_parser("deploy", help="build a release, migrate once, switch web nodes one by one")
    dep.add_argument(
        "--app", "--source", dest="app",
        help="the Django project to release (its folder; default: the one the cluster serves)",
    )  # fmt: skip
    dep.add_argument(
        "--allow-breaking", action="store_true", help="run migrations the old release cannot use"
    )
    dep.add_argument("--keep", type=int, default=5, help="releases kept (the live and previous always are)")
    rollout_args(dep)
    rb = sub.add_parser(
        "rollback", help="switch web nodes back to the previous release (no migration reversed)"
    )
    rollout_args(rb)
    rel = sub.add_parser("releases", help="list releases (which nodes run which), or prune them")
    rel.add_argument("--prune", type=int, metavar="KEEP", help="delete all but the newest KEEP releases")
    sc = sub.add_parser("scale", help="add or remove web nodes (runtime API, no reload)")
    sc.add_argument("web", type=int, help="number of web nodes wanted")


def logs(cluster: Cluster, node: str | None, lines: int, follow: bool, min_level: str, width: int) -> int:
    """The nodes' recent log lines merged into one time-sorted view (logview.py); -f follows the files."""
    nodes = [cluster.topo.node(node)] if node else list(cluster.topo)
    year = datetime.now(UTC).year
    per_node: dict[str, list[logview.Line]] = {}
    if cluster.topo.cluster.hosts == "loopback":
        files = {f: n for n in nodes for f in sorted((cluster.paths.log / n.name).glob("*.log"))}
        if not files:
            print("no logs yet: is the cluster up? (make up)")
            return 1
        if follow:
            return subprocess.call(["tail", "-n", str(lines), "-F", *map(str, files)])
        for f, n in files.items():
            label = n.name if f.stem == n.name else f"{n.name}/{f.stem}"
            per_node[label] = logview.parse(label, logview.tail_lines(f, lines), year)
    else:
        if follow:
            raise ClusterError("logs --follow needs one host at a time on a fleet: ssh to it, or drop -f")
        for n in nodes:  # each host keeps its own logs
            place = cluster.place
            out = place.transport(n).run(
                ["tail", "-n", str(lines), str(place.host_paths(n).log_file(n.name))], check=False
            )
            per_node[n.name] = logview.parse(n.name, out.stdout.splitlines(), year)
    print(logview.render(logview.merged(per_node, lines, min_level), width))
    return 0


def operations(cluster: Cluster, base_topo: Topology, args: argparse.Namespace) -> int:
    try:
        if args.command == "releases":
            return list_releases(cluster, args.prune)
        if args.command == "scale":
            title = f"scale of cluster {cluster.topo.cluster.name!r} to {args.web} web nodes"
            with operation(cluster.paths, title) as pr:
                scale(cluster, base_topo, args.web, pr)
            return 0
        options = rolling.RolloutOptions(
            boot_limit=args.boot_limit, drain_timeout_s=args.drain_timeout, ready_timeout_s=args.ready_timeout
        )
        if args.command == "deploy":
            spec = load_app(Path(args.app).resolve() if args.app else cluster.app_source())
            version = rolling.deploy(cluster, spec, options, args.allow_breaking, args.keep)
            print(f"deployed {version}")
        else:
            version = rolling.rollback(cluster, options)
            print(f"rolled back to {version} (migrations were not reversed)")
    except (rolling.DeployError, ReleaseError, LockedError, RuntimeError, AppError) as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    return 0


def list_releases(cluster: Cluster, prune: int | None) -> int:
    store = cluster.releases
    if prune is not None:
        removed = store.prune(prune)
        print(f"pruned: {', '.join(removed) or 'nothing'}")
        envs = prune_envs()
        print(f"pruned cached environments no release uses: {', '.join(envs) or 'none'}")
    state = store.load_state()
    live = store.live()
    for version in store.versions():
        meta = store.get(version).meta
        nodes = ", ".join(sorted(n for n, v in state["nodes"].items() if v == version))
        mark = "live" if version == live else ("previous" if version in state["history"][-2:-1] else "")
        created = meta.get("created_utc", "")
        print(f"{version:40} {mark:8} {created}  {nodes or '-'}  {meta.get('source', '')}")
    return 0


def topology_from_terraform(outputs: str, out: str) -> int:
    try:
        text = sys.stdin.read() if outputs == "-" else Path(outputs).read_text()
        toml, topo = from_terraform(text, "stdin" if outputs == "-" else outputs)
    except (OSError, TopologyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if out == "-":
        sys.stdout.write(toml)
    else:
        Path(out).write_text(toml)
    managed = sum(n.managed for n in topo.nodes)
    print(
        f"topology {topo.cluster.name!r}: valid, {len(topo.nodes)} nodes ({managed} managed)", file=sys.stderr
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "topology":
        return topology_from_terraform(args.outputs, args.out)
    if args.command == "init":
        return init_verb(args)
    try:
        topo = load(args.topology)
    except TopologyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    base_topo = topo
    paths = StatePaths.for_cluster(topo.cluster.name)
    topo = scaled(topo, load_overlay(paths.root))  # web nodes added by `scale` (var/<cluster>/scale.json)
    cluster = Cluster(topo, paths)
    try:
        return dispatch(cluster, base_topo, args)
    except (
        ClusterError,
        HostError,
        AdminError,
        SupervisionError,
        TransportError,
        probes.WaitTimeout,
        TopologyError,
        AppError,
        ReleaseError,
    ) as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1


# Verbs that work on a topology naming managed services (RDS, ElastiCache, S3), i.e. an AWS cluster's.
MANAGED_OK = ("check", "node-install", "release-setup", "terraform-roles", "topology")

# Verbs that still act on this machine's files and sockets only (docs/FLEET.md says what the fleet lacks).
LOOPBACK_ONLY = ("bench",)


def dispatch(cluster: Cluster, base_topo: Topology, args: argparse.Namespace) -> int:
    topo = cluster.topo
    if topo.cluster.hosts != "loopback" and args.command in LOOPBACK_ONLY:
        raise ClusterError(
            f"`{args.command}` does not run against a fleet yet; use it on the loopback cluster"
        )
    if topo.managed() and args.command not in MANAGED_OK:
        names = ", ".join(n.name for n in topo.managed())
        raise ClusterError(
            f"{topo.source} names managed service endpoints ({names}): it describes a cloud cluster, "
            f"whose hosts run `node-install`; here only {', '.join(MANAGED_OK)} work on it"
        )
    match args.command:
        case "up":
            choose_app(cluster, args.app)
            lifecycle.up(cluster, seed=not args.no_seed)
        case "secret":
            return secret_verb(cluster, args.action, args.name)
        case "down":
            lifecycle.down(cluster)
        case "clean":
            lifecycle.clean(cluster)
        case "status":
            return status(cluster)
        case "check":
            files = render_all(RenderContext(topo, cluster.paths, Secrets.fixed_for_tests()))
            print(f"{topo.source}: valid, {len(topo.nodes)} nodes, {len(files)} config files render")
        case "terraform-roles":
            Path(args.out).write_text(render_roles_tf_json())
            print(f"wrote {args.out}")
        case "node-install":
            written = node_install(
                topo,
                args.node,
                Path(args.state),
                Path(args.systemd_dir),
                args.secrets,
                not args.no_enable,
                args.manager,
                args.release,
                args.web_count,
            )
            print("\n".join(f"wrote {p}" for p in written) or "nothing changed")
        case "release-setup":
            secrets = read_secrets(args.secrets)
            release_setup(topo, args.node, Path(args.state), secrets, args.release, args.db_admin_user)
        case "host-kill":
            host_kill(topo, args.node, Path(args.state))
        case "failover":
            print(f"the primary is now {failover(cluster, args.to).name}")
        case "bench":
            print(run_bench(cluster, Path(args.out), args.only))
        case "logs":
            return logs(cluster, args.node, args.lines, args.follow, args.level, args.width)
        case "stop" | "start" | "restart" | "kill":
            control(cluster, args.command, args.node)
            print(f"{args.command}: {args.node} done")
        case "psql":
            node = topo.node(args.node)
            if node.role != "db":
                raise ClusterError(f"{args.node} is a {node.role} node; psql needs a db node")
            extra = args.args[1:] if args.args[:1] == ["--"] else args.args
            if topo.cluster.hosts != "loopback":
                raise ClusterError("psql on a fleet host: `ssh` to it (docs/FLEET.md) and run psql there")
            os.execvp("runuser", psql_argv(cluster.paths, node, extra))
        case "deploy" | "rollback" | "releases" | "scale":
            return operations(cluster, base_topo, args)
        case "backup" | "backups" | "restore-drill" | "backup-mark":
            return backup_verbs(cluster, args)
        case "manage" if topo.cluster.hosts != "loopback":
            extra = args.args[1:] if args.args[:1] == ["--"] else args.args
            manage(cluster, extra)
        case "manage":
            extra = args.args[1:] if args.args[:1] == ["--"] else args.args
            env = django_env(cluster, topo.node(args.node) if args.node else None)
            release = cluster.live_release()
            os.chdir(release.app)
            argv = [str(release.python), "manage.py", *extra]
            os.execve(argv[0], argv, env)
    return 0


def control(cluster: Cluster, verb: str, name: str) -> None:
    node = cluster.topo.node(name)
    sup = cluster.place.supervisor(node)
    if verb in ("stop", "restart"):
        sup.stop(node.name)
    if verb in ("start", "restart"):
        sup.start(node.name)
    if verb == "kill":
        cluster.place.kill(node)
