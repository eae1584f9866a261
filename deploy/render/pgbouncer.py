"""PgBouncer, the connection pooler between the app (web and worker nodes) and the database tier.

One pool per database target: ``<db name>`` goes to dbproxy (so to whichever node Patroni says leads),
``<db name>_<db node>`` to that DB node directly (the router's per-replica reads and its probes). Pool sizes
come from the topology: enough server connections for every app process to run a transaction at once,
capped by ``max_server_pool`` so adding web nodes and workers never adds server connections past it.
Clients authenticate with SCRAM against the app role's verifier (the very one PostgreSQL stores), and
PgBouncer logs in to PostgreSQL with the client's own SCRAM proof: no clear password on the pooler's host.
"""

from __future__ import annotations

from ..model.paths import StatePaths
from ..model.secrets import Secrets
from ..model.topology import Node, Topology
from .patroni import app_verifier
from .templates import render

# Per web node, besides its site workers: uWSGI's check worker also runs Django (/readyz).
_CHECK_WORKERS = 1
# Server connections beyond the app processes' own: the router's probes and an operator's `manage`.
_POOL_SLACK = 2


def app_concurrency(topo: Topology) -> int:
    """How many transactions the app can run at once: every uWSGI worker thread and task worker process."""
    uwsgi = (*topo.by_role("web"), *topo.by_role("queue"))  # the same Django under uWSGI
    web = sum((n.opt("processes") + _CHECK_WORKERS) * n.opt("threads") for n in uwsgi)
    return web + sum(n.opt("processes") for n in topo.by_role("worker"))


def pool_size(topo: Topology, node: Node) -> int:
    """Server connections of each pool: the app's concurrency (plus slack), at most ``max_server_pool``."""
    return min(node.opt("max_server_pool"), app_concurrency(topo) + _POOL_SLACK)


def replica_pool(topo: Topology, db_node: Node) -> str:
    """The pool of one DB node (the router's read alias for it connects to this database name)."""
    return f"{topo.database.name}_{db_node.name.replace('-', '_')}"


def max_client_conn(topo: Topology) -> int:
    """Every Django connection and router probe connection an app process may hold, with room to spare."""
    aliases = 1 + len(topo.by_role("db"))
    return (app_concurrency(topo) * 2 * aliases + 50) // 10 * 10 + 10


def ini_path(paths: StatePaths, node: Node):
    return paths.conf_file(f"pgbouncer-{node.name}.ini")


def userlist_path(paths: StatePaths, node: Node):
    return paths.conf_file(f"pgbouncer-{node.name}.users")


def render_pgbouncer(topo: Topology, node: Node, paths: StatePaths) -> str:
    """pgbouncer.ini for ``node``."""
    proxy, db = topo.one("dbproxy"), topo.database
    targets = [(db.name, proxy.address, proxy.port)]
    targets += [(replica_pool(topo, n), n.address, n.port) for n in topo.by_role("db")]
    return render(
        "db/pgbouncer.ini.j2",
        node=node,
        cluster=topo.cluster.name,
        dbname=db.name,
        user=db.user,
        targets=targets,
        pool_size=pool_size(topo, node),
        concurrency=app_concurrency(topo),
        max_client_conn=max_client_conn(topo),
        userlist=str(userlist_path(paths, node)),
    )


def render_userlist(topo: Topology, secrets: Secrets) -> str:
    """auth_file: the app role and its SCRAM verifier (identical to PostgreSQL's, so pass-through works)."""
    return f'"{topo.database.user}" "{app_verifier(topo, secrets)}"\n'
