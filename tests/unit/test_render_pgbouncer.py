"""The pooler's config: pools per target, sizes from the topology, SCRAM auth from the app role's verifier."""

from __future__ import annotations

import pytest

from deploy.model.topology import TopologyError
from deploy.render.patroni import app_verifier
from deploy.render.pgbouncer import (
    app_concurrency,
    max_client_conn,
    pool_size,
    render_pgbouncer,
    render_userlist,
)
from deploy.roles import loads
from tests.unit.fixtures import PATHS, SECRETS, SMALL, small
from tests.unit.golden import assert_golden


def test_ini_exact() -> None:
    topo = small()
    assert_golden("pgbouncer-pgbouncer.ini", render_pgbouncer(topo, topo.one("pgbouncer"), PATHS))


def test_pool_follows_the_app_until_its_ceiling() -> None:
    topo = small()
    node = topo.one("pgbouncer")
    # web1: (1 site + 1 check worker) x 1 thread; web2: (2 + 1) x 2 threads; queue1: (1 + 1) x 1;
    # worker1: 1 process.
    assert app_concurrency(topo) == 2 + 6 + 2 + 1
    assert pool_size(topo, node) == 11 + 2
    more_web = SMALL + "".join(f'[web.extra{i}]\naddress = "127.9.7.{10 + i}"\n' for i in range(10))
    grown = loads(more_web)
    assert app_concurrency(grown) == 31
    # The ceiling holds however many web nodes there are; clients may grow, server connections may not.
    assert pool_size(grown, grown.one("pgbouncer")) == 20
    assert max_client_conn(grown) > max_client_conn(topo)


def test_userlist_holds_the_verifier_postgresql_stores() -> None:
    topo = small()
    assert render_userlist(topo, SECRETS) == f'"tiers" "{app_verifier(topo, SECRETS)}"\n'
    assert SECRETS.db_app_password not in render_userlist(topo, SECRETS)


def test_a_ceiling_past_max_connections_is_refused() -> None:
    text = SMALL.replace('address = "127.9.2.11"', 'address = "127.9.2.11"\nmax_server_pool = 45')
    with pytest.raises(TopologyError, match=r"max_server_pool: 45 .* use at most 40"):
        loads(text)


def test_without_a_pooler_django_connects_directly() -> None:
    from deploy.render.django_env import web_environment

    topo = loads(SMALL.replace('[pgbouncer.pgbouncer]\naddress = "127.9.2.11"\n', ""))
    env = web_environment(topo, topo.node("web1"), PATHS, SECRETS)
    assert (env["DB_PRIMARY_HOST"], env["DB_PRIMARY_PORT"], env["DB_POOLED"]) == ("127.9.2.10", "5432", "0")
    assert env["DB_READ_NODES"] == "db1=127.9.2.1:5432,db2=127.9.2.2:5432"
