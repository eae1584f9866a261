"""The local cluster runner: the thin orchestrator that acts on what the builders render.

``up`` is idempotent: it renders every config, writes only what changed, starts
supervisord (or tells the running one about changes), restarts only the nodes whose
config changed, and waits for each tier to be really ready (no fixed sleeps).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import probes
from .configs import ConfigFile, render_all
from .paths import StatePaths
from .progress import Progress
from .releases import ReleaseStore
from .releases import assignments as release_assignments
from .releases import differs_from as release_differs
from .releases import ensure_initial as ensure_initial_release
from .render.django_env import web_environment
from .secrets import Secrets, load_or_create
from .supervisor_client import Supervisor
from .topology import Node, Topology, TopologyError

PG_BIN = Path("/usr/lib/postgresql/15/bin")
REQUIRED_BINARIES = {
    "/usr/sbin/haproxy": "haproxy",
    "/usr/sbin/nginx": "nginx",
    "/usr/bin/memcached": "memcached",
    "/usr/bin/etcd": "etcd-server",
    str(PG_BIN / "postgres"): "postgresql-15",
}


class ClusterError(RuntimeError):
    """An operation could not be done; the message says what to do."""


@dataclass
class Cluster:
    topo: Topology
    paths: StatePaths

    @functools.cached_property
    def secrets(self) -> Secrets:
        """Read (or, the first time, create) once per Cluster object: many steps need them."""
        return load_or_create(self.paths.secrets)

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.paths)

    # ------------------------------------------------------------------ setup
    def preflight(self) -> None:
        missing = [pkg for binary, pkg in REQUIRED_BINARIES.items() if not Path(binary).exists()]
        if missing:
            raise ClusterError(
                f"missing Debian packages: {' '.join(missing)}. Run `make up` (it installs them) "
                f"or `apt-get install {' '.join(missing)}`."
            )
        if os.geteuid() != 0:
            raise ClusterError("the local cluster runner must run as root (it starts PostgreSQL as postgres)")
        probe = subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-x", str(self.paths.venv / "bin" / "patroni")],
            capture_output=True,
        )
        if probe.returncode != 0:
            raise ClusterError(
                f"the postgres user cannot run {self.paths.venv}/bin/patroni: every folder above the "
                f"repository must be readable by other users (chmod o+rx), or clone it under /srv or /opt."
            )

    def prepare_dirs(self) -> None:
        paths = self.paths
        pg = pwd.getpwnam("postgres")
        for d in (paths.root, paths.conf, paths.run, paths.log, paths.root / "data"):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o755)  # postgres must traverse to its own data and socket dirs
        for node in self.topo.db:
            for d, mode in ((paths.data(node.name), 0o700), (paths.socket_dir(node.name), 0o755)):
                d.mkdir(parents=True, exist_ok=True)
                os.chown(d, pg.pw_uid, pg.pw_gid)
                d.chmod(mode)
            log = paths.log_file(node.name)
            log.touch(exist_ok=True)
        for node in self.topo.by_role("media"):
            base = paths.data(node.name)
            for sub in (
                "cache",
                "temp/client",
                "temp/proxy",
                "temp/fastcgi",
                "temp/uwsgi",
                "temp/scgi",
                "logs",
            ):
                (base / sub).mkdir(parents=True, exist_ok=True)
        for node in [*self.topo.by_role("s3"), *self.topo.by_role("etcd")]:
            paths.data(node.name).mkdir(parents=True, exist_ok=True)
        for node in self.topo.by_role("etcd"):
            paths.data(node.name).chmod(0o700)

    def write_configs(self) -> set[str]:
        """Write changed config files; return the programs whose config changed."""
        changed: set[str] = set()
        for cf in render_all(
            self.topo, self.paths, self.secrets, self.node_releases(), self.worker_release()
        ):
            if write_if_changed(cf) and cf.program:
                changed.add(cf.program)
        return changed

    @property
    def releases(self) -> ReleaseStore:
        """Immutable app releases and which one each web node runs (deploy/releases.py)."""
        return ReleaseStore(self.paths.root, self.paths.repo / "pyproject.toml")

    def node_releases(self) -> dict[str, tuple[Path, str]]:
        return release_assignments(self.releases, [n.name for n in self.topo.web])

    def worker_release(self) -> tuple[Path, str] | None:
        """(app dir, version) of the live release, which the workers run; None before the first release."""
        store = self.releases
        live = store.live()
        if live and (store.root / live / "release.json").exists():
            return store.root / live / "app", live
        return None

    def follow_live_release(self) -> list[str]:
        """Re-render and restart the workers on the live release (after a deploy or rollback).

        Only the programs whose command changed restart; a task cut short is re-queued by the new worker.
        """
        self.write_configs()
        return self.supervisor.update() if self.topo.workers else []

    # --------------------------------------------------------------------- up
    def up(self, seed: bool = True) -> None:
        topo = self.topo
        progress = Progress(
            f"Bringing up cluster {topo.cluster.name!r} ({len(topo.nodes)} nodes, {topo.source})"
        )
        self.preflight()
        self.prepare_dirs()
        fresh = not (self.paths.data(topo.primary.name) / "pgdata" / "PG_VERSION").exists()
        with progress.step("making sure the web nodes run a release"):
            # The first `up` builds one from the working tree; later ones keep what nodes run
            # (code changes ship with `deploy`).
            live = ensure_initial_release(
                self.releases, [n.name for n in topo.web], self.paths.repo, self.paths.venv / "bin" / "python"
            )
        progress.say(f"live release {live}")
        if release_differs(self.releases, live, self.paths.repo):
            progress.say("note: app/ changed since that release; `make deploy` ships it (up keeps releases)")
        with progress.step("rendering configs"):
            changed = self.write_configs()
        sup = self.supervisor
        if not sup.running():
            with progress.step("starting supervisord"):
                sup.start_daemon()
                probes.wait_for(sup.running, "supervisord", 15)
        else:
            with progress.step("applying config changes"):
                updated = set(sup.update())
                for name in sorted(changed - updated):
                    self._apply_change(name)
        with progress.step(f"waiting for etcd ({', '.join(n.name for n in topo.etcd)})"):
            for node in topo.etcd:
                probes.wait_for(lambda n=node: _etcd_healthy(n), f"etcd {node.name} /health", 30)
        if self.leader() is None:
            first = topo.primary if fresh else self._last_leader()
            with progress.step(
                f"starting {first.name} first ({'bootstraps' if fresh else 'was the last leader'})"
            ):
                sup.start(first.name, wait=False)
        with progress.step("waiting for a Patroni leader"):
            leader = probes.wait_for(self.leader, "a Patroni leader", 90)
        progress.say(f"leader is {leader.name}")
        self._start_stopped(progress)
        with progress.step("ensuring the application role and database"):
            # Right after bootstrap Patroni restarts PostgreSQL once: retry through that.
            probes.wait_for(self._try_ensure_app_database, "the leader to accept SQL", 60)
        with progress.step(f"waiting for {len(topo.db) - 1} streaming replica(s)"):
            probes.wait_for(lambda: self.streaming_count() >= len(topo.db) - 1, "replicas streaming", 120)
        with progress.step(f"waiting for dbproxy {topo.dbproxy.endpoint} to reach the primary"):
            probes.wait_for(self.dbproxy_reaches_primary, "dbproxy -> primary", 30)
        with progress.step("waiting for memcached and S3"):
            for node in topo.cache:
                probes.wait_for(
                    lambda n=node: probes.tcp_open(n.address, n.port), f"memcached {node.name}", 20
                )
            s3 = topo.s3
            probes.wait_for(lambda: _s3_answers(s3), f"S3 {s3.endpoint}", 60)
        with progress.step("running migrations on the primary"):
            # With the working tree's code, as workers and `manage` run it; `deploy` is the guarded path.
            self.manage(["migrate", "--noinput"], quiet=True)
        static_stamp = self.paths.root / "static.stamp"
        fingerprint = _static_fingerprint(self.paths.app)
        if not static_stamp.exists() or static_stamp.read_text() != fingerprint:
            with progress.step("collecting static files into S3"):
                self.manage(["collectstatic", "--noinput"], quiet=True)
                static_stamp.write_text(fingerprint)
        else:
            progress.say("static files unchanged since the last collectstatic: skipped")
        if seed and topo.cluster.profile == "local" and self._has_command("seed_demo"):
            with progress.step("seeding demo data"):
                self.manage(["seed_demo"], quiet=True)
        with progress.step(f"waiting for web nodes ({', '.join(n.name for n in topo.web)}) to be ready"):
            for node in topo.web:
                probes.wait_for(lambda n=node: _web_ready(n), f"{node.name} /readyz", 60)
        if topo.workers:
            with progress.step(f"waiting for workers ({', '.join(n.name for n in topo.workers)})"):
                for node in topo.workers:
                    probes.wait_for(lambda n=node: self._worker_running(n), f"worker {node.name}", 30)
        with progress.step(f"waiting for the media server and the load balancer {topo.lb.endpoint}"):
            media = topo.media
            probes.wait_for(
                lambda: probes.http_get(media.address, media.port, "/healthz")[0] == 200, "media /healthz", 20
            )
            lb = topo.lb
            probes.wait_for(
                lambda: probes.http_get(lb.address, lb.port, "/healthz")[0] == 200,
                "load balancer /healthz",
                30,
            )
        lb = topo.lb
        progress.say(f"cluster {topo.cluster.name!r} is up")
        print(f"\n  Site:          http://{lb.address}:{lb.port}/")
        print(f"  HAProxy stats: http://{lb.address}:{lb.opt('stats_port')}/")
        print(f"  Media:         http://{topo.media.address}:{topo.media.port}/")
        if topo.cluster.profile == "local":
            print(
                "  Demo buyers:   demo / demo, demo2 / demo2   (organizer: organizer / organizer at /admin/)"
            )
        print("  Status:        make status    Logs: make logs    Stop: make down\n")

    @property
    def _last_leader_file(self) -> Path:
        return self.paths.root / "last-leader"

    def _last_leader(self) -> Node:
        """The DB node that led when the cluster was last stopped (it has the newest data)."""
        try:
            return self.topo.node(self._last_leader_file.read_text().strip())
        except (OSError, TopologyError):
            return self.topo.primary

    def _start_stopped(self, progress: Progress) -> None:
        sup = self.supervisor
        with progress.step("starting every node"):
            for name, info in sup.processes().items():
                if info["statename"] not in ("RUNNING", "STARTING"):
                    sup.start(name, wait=False)

    def _apply_change(self, name: str) -> None:
        """A program's config file changed but its command did not: reload or restart it."""
        node = self.topo.node(name)
        sup = self.supervisor
        if node.role == "lb":
            self.save_lb_server_state()
            sup.signal(name, "USR2")  # HAProxy master-worker reload: no dropped connections
        elif node.role == "db":
            # Patroni reloads its YAML on SIGHUP; PostgreSQL settings it manages follow.
            sup.signal(name, "HUP")
        elif node.role == "media":
            sup.signal(name, "HUP")  # nginx graceful reload
        else:
            sup.stop(name)
            sup.start(name)

    def save_lb_server_state(self) -> None:
        """Save HAProxy's server states (drain/maint/weights) so a reload keeps them."""
        from .haproxy_api import HAProxyAPI

        api = HAProxyAPI(self.paths.haproxy_admin_sock)
        with contextlib.suppress(OSError):
            self.paths.haproxy_server_state.write_text(api.command("show servers state"))

    def _worker_running(self, node: Node) -> bool:
        """A worker has no port: supervisord's RUNNING (up past startsecs) is its readiness."""
        state = self.supervisor.info(node.name).get("statename")
        if state in ("STOPPED", "EXITED", "FATAL"):  # e.g. started before `migrate` made its table
            self.supervisor.start(node.name, wait=False)
        return state == "RUNNING"

    # ------------------------------------------------------------- database
    def patroni_status(self, node: Node) -> dict | None:
        try:
            _status, data = probes.http_json(node.address, node.opt("rest_port"), "/patroni", timeout=1.0)
        except OSError:
            return None
        return data if isinstance(data, dict) else None

    def leader(self) -> Node | None:
        for node in self.topo.db:
            data = self.patroni_status(node)
            if data and data.get("role") in ("primary", "master") and data.get("state") == "running":
                return node
        return None

    def psql(self, node: Node, sql: str, database: str = "postgres", timeout: float = 10) -> str:
        # The SQL goes on stdin, not argv: it may hold a password, and argv shows in `ps`.
        args = ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, "-f", "-"]
        out = subprocess.run(
            self.psql_argv(node, args), input=sql, capture_output=True, text=True, timeout=timeout
        )
        if out.returncode != 0:
            raise ClusterError(f"psql on {node.name} failed: {out.stderr.strip()}")
        return out.stdout.strip()

    def psql_argv(self, node: Node, args: list[str]) -> list[str]:
        return [
            "runuser", "-u", "postgres", "--", str(PG_BIN / "psql"),
            "-h", str(self.paths.socket_dir(node.name)), "-p", str(node.port), "-U", "postgres", *args,
        ]  # fmt: skip

    def _leader_accepts_sql(self) -> bool:
        leader = self.leader()
        if not leader:
            return False
        try:
            return self.psql(leader, "SELECT NOT pg_is_in_recovery()") == "t"
        except (ClusterError, subprocess.TimeoutExpired):
            return False

    def _try_ensure_app_database(self) -> bool:
        if not self._leader_accepts_sql():
            return False
        try:
            self.ensure_app_database()
        except (ClusterError, subprocess.TimeoutExpired):
            return False
        return True

    def ensure_app_database(self) -> None:
        leader = self.leader()
        if leader is None:
            raise ClusterError("no Patroni leader: see `make status` and `make logs NODE=db1`")
        db = self.topo.database
        password = self.secrets.db_app_password.replace("'", "''")
        self.psql(
            leader,
            f"""DO $$ BEGIN
                 IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{db.user}') THEN
                   CREATE ROLE "{db.user}" LOGIN PASSWORD '{password}';
                 ELSE
                   ALTER ROLE "{db.user}" LOGIN PASSWORD '{password}';
                 END IF;
               END $$;""",
        )
        exists = self.psql(leader, f"SELECT 1 FROM pg_database WHERE datname = '{db.name}'")
        if exists != "1":
            self.psql(leader, f'CREATE DATABASE "{db.name}" OWNER "{db.user}"')
        # Let the app role read replay positions for the router (pg_monitor grants the WAL functions).
        self.psql(leader, f'GRANT pg_monitor TO "{db.user}"')

    def streaming_count(self) -> int:
        leader = self.leader()
        if leader is None:
            return 0
        try:
            return int(
                self.psql(leader, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
            )
        except (ClusterError, subprocess.TimeoutExpired, ValueError):
            return 0

    def dbproxy_reaches_primary(self) -> bool:
        import psycopg2

        proxy = self.topo.dbproxy
        try:
            conn = psycopg2.connect(
                host=proxy.address, port=proxy.port, dbname=self.topo.database.name,
                user=self.topo.database.user, password=self.secrets.db_app_password, connect_timeout=2,
            )  # fmt: skip
        except psycopg2.OperationalError:
            return False
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT NOT pg_is_in_recovery()")
                return bool(cur.fetchone()[0])
        finally:
            conn.close()

    # ------------------------------------------------------------- django
    def django_env(self, node: Node | None = None) -> dict[str, str]:
        node = node or self.topo.web[0]
        env = dict(os.environ)
        env.update(web_environment(self.topo, node, self.paths, self.secrets))
        env["PYTHONPATH"] = str(self.paths.app)
        return env

    def manage(self, args: list[str], quiet: bool = False) -> None:
        argv = [str(self.paths.venv / "bin" / "python"), str(self.paths.app / "manage.py"), *args]
        out = subprocess.run(argv, env=self.django_env(), cwd=self.paths.app, capture_output=quiet, text=True)
        if out.returncode != 0:
            detail = (out.stderr or out.stdout or "").strip()[-2000:] if quiet else ""
            raise ClusterError(
                f"manage.py {' '.join(args)} failed (exit {out.returncode}){': ' + detail if detail else ''}"
            )

    def _has_command(self, name: str) -> bool:
        return any(self.paths.app.glob(f"*/management/commands/{name}.py"))

    # ------------------------------------------------------------- node control
    def _program(self, name: str) -> Node:
        return self.topo.node(name)

    def stop(self, name: str) -> None:
        self._program(name)
        self.supervisor.stop(name)

    def start(self, name: str) -> None:
        self._program(name)
        self.supervisor.start(name)

    def restart(self, name: str) -> None:
        self.stop(name)
        self.start(name)

    def kill(self, name: str) -> None:
        """Crash a node: SIGKILL its processes (for a DB node, PostgreSQL's postmaster too) and keep it down.

        supervisord restarts a process that dies on its own, and a crash test wants the node to stay
        dead until `start`. So the processes are frozen (SIGSTOP) first, supervisord is told to stop the
        program (its SIGTERM waits, undelivered, on the frozen processes: nothing shuts down gracefully),
        and then everything is SIGKILLed; supervisord records the program as STOPPED, not crashed.
        """
        node = self._program(name)
        sup = self.supervisor
        pid = sup.info(name).get("pid") or 0
        if not pid:
            raise ClusterError(f"{name} is not running: nothing to kill")
        group = os.getpgid(pid) if _alive(pid) else 0
        extra = []
        if node.role == "db":
            postmaster = _postmaster_pid(self.paths.data(name) / "pgdata")
            if postmaster:
                extra.append(postmaster)

        def signal_all(sig: signal.Signals) -> None:
            with contextlib.suppress(ProcessLookupError):
                if group == pid:
                    os.killpg(group, sig)  # the program and every child it started
                else:
                    os.kill(pid, sig)
            for other in extra:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(other, sig)

        signal_all(signal.SIGSTOP)
        sup.stop(name, wait=False)
        signal_all(signal.SIGKILL)
        probes.wait_for(
            lambda: sup.info(name)["statename"] in ("STOPPED", "EXITED", "FATAL"),
            f"supervisord to record {name} as stopped",
            15,
        )

    # ------------------------------------------------------------- down/clean
    def down(self) -> None:
        progress = Progress(f"Stopping cluster {self.topo.cluster.name!r}")
        sup = self.supervisor
        if not sup.running():
            progress.say("supervisord is not running: nothing to stop")
            self._stop_stray_postgres()
            return
        with progress.step(
            "stopping every node (web and lb first, the database last, its leader last of all)"
        ):
            procs = sup.processes()
            leader = self.leader()
            if leader is not None:
                self._last_leader_file.write_text(leader.name)
            # Replicas before the leader: stopping the leader first would make a replica take over
            # (a needless failover and a new timeline) just before it is stopped too.
            order = sorted(
                procs, key=lambda n: (-_priority(self.topo, n), leader is not None and n == leader.name)
            )
            for name in order:
                sup.stop(name)
        with progress.step("stopping supervisord"):
            pidfile = self.paths.run / "supervisord.pid"
            pid = int(pidfile.read_text()) if pidfile.exists() else None
            sup.shutdown()
            if pid:
                probes.wait_for(lambda: not _alive(pid), "supervisord to exit", 20)
        self._stop_stray_postgres()
        progress.say("stopped; data kept (make clean wipes it)")

    def _stop_stray_postgres(self) -> None:
        """A killed Patroni leaves its postmaster running: stop any that is left."""
        for node in self.topo.db:
            pgdata = self.paths.data(node.name) / "pgdata"
            if _postmaster_pid(pgdata):
                subprocess.run(
                    ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(pgdata),
                     "-m", "fast", "-w", "-t", "30", "stop"],
                    capture_output=True,
                )  # fmt: skip

    def clean(self) -> None:
        self.down()
        if self.paths.root.exists():
            shutil.rmtree(self.paths.root)
        print(f"removed {self.paths.root}")


def write_if_changed(cf: ConfigFile) -> bool:
    cf.path.parent.mkdir(parents=True, exist_ok=True)
    if cf.path.exists() and cf.path.read_text() == cf.content:
        return False
    tmp = cf.path.with_name(cf.path.name + ".tmp")
    tmp.write_text(cf.content)
    tmp.chmod(cf.mode)
    if cf.owner != "root":
        pw = pwd.getpwnam(cf.owner)
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    os.replace(tmp, cf.path)
    return True


def _static_fingerprint(app: Path) -> str:
    """Changes whenever a static source file (ours or Django's admin) changes."""
    import hashlib

    import django

    h = hashlib.sha256(django.get_version().encode())
    for path in sorted(app.glob("*/static/**/*")):
        if path.is_file():
            st = path.stat()
            h.update(f"{path.relative_to(app)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _priority(topo: Topology, name: str) -> int:
    from .programs import PRIORITY

    try:
        return PRIORITY[topo.node(name).role]
    except Exception:
        return 50


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) else None


def _etcd_healthy(node: Node) -> bool:
    status, data = probes.http_json(node.address, node.port, "/health", timeout=1.0)
    return status == 200 and isinstance(data, dict) and data.get("health") in ("true", True)


def _s3_answers(node: Node) -> bool:
    status, _h, _b = probes.http_get(node.address, node.port, "/", timeout=1.0)
    return status in (200, 403)


def _web_ready(node: Node) -> bool:
    status, _h, _b = probes.http_get(node.address, node.port, "/readyz", timeout=3.0)
    return status == 200


def dump_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2)
    print()
