"""`python -m deploy [--topology FILE] COMMAND ...`: the operator's entry point."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from .cluster import Cluster, ClusterError
from .haproxy_api import HAProxyAPI
from .paths import REPO, StatePaths
from .probes import WaitTimeout
from .scale import load_overlay, scale, scaled
from .status import Row, format_table, health_of
from .topology import Topology, TopologyError, load

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
    ni.add_argument("--secrets", help="JSON secrets file (default $TIERS_SECRETS)")
    ni.add_argument("--no-enable", action="store_true", help="write files only")
    fo = sub.add_parser("failover", help="planned switchover of the primary to a replica (Patroni)")
    fo.add_argument("--to", help="the replica to promote (default: the first streaming one)")
    bench = sub.add_parser(
        "bench", help="bounded load runs against the running cluster -> docs/BENCHMARKS.md"
    )
    bench.add_argument("--out", default=str(REPO / "docs" / "BENCHMARKS.md"))
    logs = sub.add_parser("logs", help="recent log lines of one node or all")
    logs.add_argument("node", nargs="?")
    logs.add_argument("-n", "--lines", type=int, default=30)
    logs.add_argument("-f", "--follow", action="store_true")
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
    return p


def add_operations_commands(sub: argparse._SubParsersAction) -> None:
    """deploy / rollback / releases / scale (deploy/rolling.py, releases.py, scale.py)."""

    def rollout_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--boot-limit", type=int, default=1, help="web nodes switched at a time (default 1)")
        sp.add_argument(
            "--drain-timeout", type=float, default=30, help="seconds to wait for in-flight requests"
        )
        sp.add_argument("--ready-timeout", type=float, default=45, help="seconds for a node's /readyz 200")

    dep = sub.add_parser("deploy", help="build a release, migrate once, switch web nodes one by one")
    dep.add_argument("--source", default=str(REPO), help="source tree to release (default: this repository)")
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


def status(cluster: Cluster) -> int:
    sup = cluster.supervisor
    procs = sup.processes() if sup.running() else {}
    lb_states: dict[str, str] = {}
    try:
        for row in HAProxyAPI(cluster.paths.haproxy_admin_sock, timeout=1).stats():
            if row["pxname"] == "web" and row["svname"] not in ("FRONTEND", "BACKEND"):
                lb_states[row["svname"]] = f"{row['status']} cur {row['scur']} q {row['qcur']}"
    except OSError:
        pass
    rows = []
    for node in cluster.topo:
        info = procs.get(node.name)
        process = info["statename"].lower() if info else "not started"
        if info and info["statename"] == "RUNNING":
            patroni = cluster.patroni_status(node) if node.role == "db" else None
            health, detail = health_of(node, patroni, lb_states)
        else:
            health, detail = "-", ""
        address = node.endpoint if node.port else node.address
        rows.append(Row(node.name, node.role, address, process, health, detail))
    print(f"cluster {cluster.topo.cluster.name!r} ({cluster.topo.source}), state in {cluster.paths.root}")
    print(format_table(rows))
    return 0


def logs(cluster: Cluster, node: str | None, lines: int, follow: bool) -> int:
    names = [node] if node else [n.name for n in cluster.topo]
    if node:
        cluster.topo.node(node)
    files = [str(cluster.paths.log_file(n)) for n in names if cluster.paths.log_file(n).exists()]
    if not files:
        print("no logs yet: is the cluster up? (make up)")
        return 1
    argv = ["tail", "-n", str(lines), *(["-F"] if follow else []), *files]
    return subprocess.call(argv)


def operations(cluster: Cluster, base_topo: Topology, args: argparse.Namespace) -> int:
    from . import rolling
    from .releases import ReleaseError

    try:
        if args.command == "releases":
            return list_releases(cluster, args.prune)
        if args.command == "scale":
            title = f"scale of cluster {cluster.topo.cluster.name!r} to {args.web} web nodes"
            with rolling.operation(cluster, title) as pr:
                scale(cluster, base_topo, args.web, pr)
            return 0
        options = rolling.RolloutOptions(
            boot_limit=args.boot_limit, drain_timeout_s=args.drain_timeout, ready_timeout_s=args.ready_timeout
        )
        if args.command == "deploy":
            version = rolling.deploy(cluster, Path(args.source), options, args.allow_breaking, args.keep)
            print(f"deployed {version}")
        else:
            version = rolling.rollback(cluster, options)
            print(f"rolled back to {version} (migrations were not reversed)")
    except (rolling.DeployError, ReleaseError, RuntimeError) as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    return 0


def list_releases(cluster: Cluster, prune: int | None) -> int:
    store = cluster.releases
    if prune is not None:
        removed = store.prune(prune)
        print(f"pruned: {', '.join(removed) or 'nothing'}")
    state = store.load_state()
    live = store.live()
    for version in store.versions():
        meta = store.get(version).meta
        nodes = ", ".join(sorted(n for n, v in state["nodes"].items() if v == version))
        mark = "live" if version == live else ("previous" if version in state["history"][-2:-1] else "")
        created = meta.get("created_utc", "")
        print(f"{version:40} {mark:8} {created}  {nodes or '-'}  {meta.get('source', '')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
        match args.command:
            case "up":
                cluster.up(seed=not args.no_seed)
            case "down":
                cluster.down()
            case "clean":
                cluster.clean()
            case "status":
                return status(cluster)
            case "check":
                from .configs import render_all
                from .secrets import Secrets

                files = render_all(topo, cluster.paths, Secrets.fixed_for_tests())
                print(f"{topo.source}: valid, {len(topo.nodes)} nodes, {len(files)} config files render")
            case "node-install":
                from .node_install import node_install

                written = node_install(
                    topo,
                    args.node,
                    Path(args.state),
                    Path(args.systemd_dir),
                    args.secrets,
                    not args.no_enable,
                )
                print("\n".join(f"wrote {p}" for p in written) or "nothing changed")
            case "failover":
                from .failover import failover

                print(f"the primary is now {failover(cluster, args.to).name}")
            case "bench":
                from .bench import run as run_bench

                print(run_bench(cluster, Path(args.out)))
            case "logs":
                return logs(cluster, args.node, args.lines, args.follow)
            case "stop" | "start" | "restart" | "kill":
                getattr(cluster, args.command)(args.node)
                print(f"{args.command}: {args.node} done")
            case "psql":
                node = topo.node(args.node)
                if node.role != "db":
                    raise ClusterError(f"{args.node} is a {node.role} node; psql needs a db node")
                extra = args.args[1:] if args.args[:1] == ["--"] else args.args
                os.execvp("runuser", cluster.psql_argv(node, extra))
            case "deploy" | "rollback" | "releases" | "scale":
                return operations(cluster, base_topo, args)
            case "manage":
                extra = args.args[1:] if args.args[:1] == ["--"] else args.args
                env = cluster.django_env(topo.node(args.node) if args.node else None)
                os.chdir(cluster.paths.app)
                py = str(cluster.paths.venv / "bin" / "python")
                os.execve(py, [py, str(Path(cluster.paths.app) / "manage.py"), *extra], env)
    except (ClusterError, WaitTimeout, TopologyError) as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    return 0
