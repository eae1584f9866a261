"""Where a cluster keeps its state on disk. Pure: computes paths, creates nothing.

Every cluster (one topology) owns one state folder, by default ``var/<cluster name>/``
in the repository, laid out as::

    conf/       rendered configs (haproxy-lb.cfg, patroni-db1.yml, uwsgi-web1.ini, ...)
    data/<n>/   a node's data (PostgreSQL data dir, etcd, SeaweedFS, nginx cache)
    run/        pid files and unix sockets (supervisord, haproxy runtime API, uWSGI stats)
    run/<n>/    a DB node's own unix socket dir (nodes on one port must not share one)
    log/        one log file per node
    tls/        the cluster's local CA and the certificates it issued (ca.pem is what clients trust)
    secrets.json  generated passwords and keys (local clusters only)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


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

    @property
    def last_leader(self) -> Path:
        """The DB node that led when the cluster was last stopped (it starts first next time)."""
        return self.root / "last-leader"

    @property
    def venv(self) -> Path:
        return self.repo / ".venv"

    @property
    def app(self) -> Path:
        return self.repo / "app"

    def data(self, node: str) -> Path:
        return self.root / "data" / node

    def socket_dir(self, node: str) -> Path:
        return self.run / node

    def log_file(self, node: str) -> Path:
        return self.log / f"{node}.log"

    def conf_file(self, name: str) -> Path:
        return self.conf / name

    @property
    def supervisor_sock(self) -> Path:
        return self.run / "supervisor.sock"

    @property
    def haproxy_admin_sock(self) -> Path:
        """HAProxy runtime API of the site load balancer (drain, state, stats)."""
        return self.run / "haproxy-lb.sock"

    @property
    def haproxy_server_state(self) -> Path:
        """Server states saved before a reload and loaded after it (keeps drain/maint)."""
        return self.run / "haproxy-lb.state"

    @property
    def tls(self) -> Path:
        """The local CA (``ca.pem``, ``ca.key``) and the certificates it issued (``<node>.pem``)."""
        return self.root / "tls"

    @property
    def ca_cert(self) -> Path:
        return self.tls / "ca.pem"

    def uwsgi_stats_sock(self, node: str) -> Path:
        return self.run / f"uwsgi-{node}.stats"
