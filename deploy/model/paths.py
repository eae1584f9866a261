"""Where a cluster keeps its state on disk. Pure: computes paths, creates nothing.

Every cluster (one topology) owns one state folder, by default ``var/<cluster name>/``
in the repository, laid out as::

    conf/       rendered configs (haproxy-lb.cfg, patroni-db1.yml, uwsgi-web1.ini, ...)
    data/<n>/   a node's data (PostgreSQL data dir, etcd, SeaweedFS, nginx cache)
    run/        supervisord's pid file and socket
    run/<n>/    a node's own pid files and unix sockets (uWSGI stats, PostgreSQL: nodes on one port must
                not share one), owned by the node's user
    run/haproxy-lb/, run/haproxy-db/   the HAProxy runtime API sockets (lb, dbproxy; the LB's log socket)
    log/<n>/    a node's log file, in a folder owned by its user (uWSGI and rsyslog rotate by renaming)
    tls/        the cluster's local CA and the certificates it issued (ca.pem is what clients trust)
    secrets.json  generated passwords and keys (local clusters only)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The project plain `make up` serves: the bundled example (docs/APPS.md).
DEFAULT_APP = REPO / "examples" / "boxoffice"


def project_python(repo: Path = REPO) -> list[str]:
    """argv prefix: the project's venv Python with the project importable from any working directory
    (on a fleet host, over SSH, the session starts in root's home)."""
    return ["env", f"PYTHONPATH={repo}", str(repo / ".venv" / "bin" / "python")]


@dataclass(frozen=True)
class StatePaths:
    root: Path
    repo: Path = REPO

    @classmethod
    def for_cluster(cls, name: str, base: Path | None = None) -> StatePaths:
        return cls(root=(base or REPO / "var") / name)

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets.json"

    def role_secrets(self, role: str) -> Path:
        """A host's copy of one role's secrets (and only those): node-install keeps it."""
        return self.root / f"secrets-{role}.json"

    @property
    def last_leader(self) -> Path:
        """The DB node that led when the cluster was last stopped (it starts first next time)."""
        return self.root / "last-leader"

    @property
    def venv(self) -> Path:
        return self.repo / ".venv"

    @property
    def app_source(self) -> Path:
        """Which project the cluster serves: the folder given to `up`/`deploy` (APP=), recorded here."""
        return self.root / "app-source"

    def data(self, node: str) -> Path:
        return self.root / "data" / node

    def socket_dir(self, node: str) -> Path:
        return self.run / node

    def log_file(self, node: str) -> Path:
        return self.log / node / f"{node}.log"

    def conf_file(self, name: str) -> Path:
        return self.conf / name

    @property
    def supervisor_sock(self) -> Path:
        return self.run / "supervisor.sock"

    @property
    def lb_run(self) -> Path:
        """The site load balancer's sockets, in a folder its user (HAProxy's) owns."""
        return self.run / "haproxy-lb"

    @property
    def haproxy_admin_sock(self) -> Path:
        """HAProxy runtime API of the site load balancer (drain, state, stats)."""
        return self.lb_run / "api.sock"

    @property
    def haproxy_server_state(self) -> Path:
        """Server states saved before a reload and loaded after it (keeps drain/maint)."""
        return self.lb_run / "server.state"

    @property
    def dbproxy_run(self) -> Path:
        """The dbproxy's runtime API socket, in a folder its user owns (kept apart from the site LB's)."""
        return self.run / "haproxy-db"

    @property
    def tls(self) -> Path:
        """The local CA (``ca.pem``, ``ca.key``) and the certificates it issued (``<node>.pem``)."""
        return self.root / "tls"

    @property
    def ca_cert(self) -> Path:
        return self.tls / "ca.pem"

    def uwsgi_stats_sock(self, node: str) -> Path:
        return self.socket_dir(node) / "uwsgi.stats"
