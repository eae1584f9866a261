"""What runs for each node: one :class:`Program` per node, built from the topology.

Pure: the supervisord renderer (local) and the systemd renderer (production) both
turn these into process-manager config; nothing here starts anything.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .paths import StatePaths
from .render.django_env import web_environment
from .render.etcd import etcd_command
from .render.memcached import memcached_command
from .render.seaweed import seaweed_command
from .secrets import Secrets
from .topology import Node, Topology

HAPROXY = "/usr/sbin/haproxy"
NGINX = "/usr/sbin/nginx"

# Start order: the DB tier first, then what depends on it. supervisord starts lower first.
PRIORITY = {"etcd": 10, "db": 20, "dbproxy": 30, "cache": 30, "s3": 30, "web": 50, "worker": 60,
            "media": 70, "lb": 80}  # fmt: skip


@dataclass(frozen=True)
class Program:
    name: str
    role: str
    argv: tuple[str, ...]
    user: str = "root"
    priority: int = 50
    # Seconds a process must stay up to count as started.
    startsecs: int = 1
    # Seconds between SIGTERM and SIGKILL on stop.
    stopwaitsecs: int = 10
    stopsignal: str = "TERM"
    # Send the stop signal to the whole process group (children too).
    stopasgroup: bool = True
    # Where supervisord writes the program's stdout/stderr ("" = the node's log file).
    stdout_logfile: str = ""
    # Started by supervisord when it starts; False leaves the start to the orchestrator.
    autostart: bool = True
    directory: str = ""
    environment: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def command(self) -> str:
        # supervisord expands %(name)s in commands: a literal % must be doubled.
        return shlex.join(self.argv).replace("%", "%%")

    @property
    def environment_line(self) -> str:
        """supervisord's KEY="value",... form (quotes escaped, % doubled)."""

        def quote(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'

        return ",".join(f"{key}={quote(value)}" for key, value in self.environment.items())


def program_for(
    topo: Topology, node: Node, paths: StatePaths, secrets: Secrets, release: tuple[Path, str] | None = None
) -> Program:
    """``release``: (app dir, version) the workers run, the live release (default: the working tree)."""
    conf = paths.conf_file
    role = node.role
    base = {"name": node.name, "role": role, "priority": PRIORITY[role]}
    if role == "etcd":
        return Program(argv=tuple(etcd_command(topo, node, paths)), **base)
    if role == "db":
        # Patroni owns PostgreSQL: SIGTERM makes it stop PostgreSQL cleanly (a fast shutdown can
        # take a while under load, hence the long wait). The postmaster is detached from Patroni's
        # group, so group signals would miss it anyway.
        return Program(
            argv=(str(paths.venv / "bin" / "patroni"), str(conf(f"patroni-{node.name}.yml"))),
            user="postgres",
            stopwaitsecs=60,
            stopasgroup=False,
            startsecs=2,
            directory=str(paths.data(node.name)),
            # DB nodes start when `up` says so, one first: the topology's primary on a fresh cluster (it
            # must bootstrap it), else the last leader (it has the newest data). Started together, any
            # node can win the leader race, and a node with older data then forces a needless failover.
            autostart=False,
            **base,
        )
    if role in ("lb", "dbproxy"):
        # -W master-worker (reload = SIGUSR2 to the master), -db stays in the foreground.
        cfg = conf(f"haproxy-{node.name}.cfg")
        return Program(argv=(HAPROXY, "-W", "-db", "-f", str(cfg)), stopsignal="USR1", **base)
    if role == "web":
        # uWSGI with die-on-term: SIGTERM is a graceful stop; harakiri bounds how long it can take.
        return Program(
            argv=(str(paths.venv / "bin" / "uwsgi"), "--ini", str(conf(f"uwsgi-{node.name}.ini"))),
            stopwaitsecs=35,
            # uWSGI writes the node's log itself (logto); supervisord keeps only what precedes that.
            stdout_logfile=str(paths.log / f"{node.name}.boot.log"),
            **base,
        )
    if role == "cache":
        return Program(argv=tuple(memcached_command(node)), **base)
    if role == "s3":
        return Program(argv=tuple(seaweed_command(topo, node, paths)), startsecs=2, stopwaitsecs=15, **base)
    if role == "media":
        cfg = conf(f"nginx-{node.name}.conf")
        # SIGQUIT: nginx's graceful shutdown (finish in-flight responses).
        return Program(
            argv=(NGINX, "-p", str(paths.data(node.name)), "-c", str(cfg)), stopsignal="QUIT", **base
        )
    if role == "worker":
        # django-tasks-db's worker command is `db_worker`; `tasks_worker` (boxoffice) runs the same Worker
        # with retries and re-queues what a killed predecessor left RUNNING. SIGTERM finishes the task.
        # Workers run the live release, like the web nodes; a deploy or rollback restarts them on the new one.
        app, version = release or (paths.app, "")
        environment = web_environment(topo, node, paths, secrets)
        if version:
            environment["TIERS_RELEASE"] = version
        return Program(
            argv=(str(paths.venv / "bin" / "python"), str(app / "manage.py"), "tasks_worker"),
            directory=str(app),
            environment=environment,
            stopwaitsecs=35,
            **base,
        )
    raise ValueError(f"no program for role {role!r}")


def programs(
    topo: Topology, paths: StatePaths, secrets: Secrets, worker_release: tuple[Path, str] | None = None
) -> list[Program]:
    return [program_for(topo, node, paths, secrets, worker_release) for node in topo]
