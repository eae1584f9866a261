"""ReplicaRouter with fakes: the context, the health registry (fake probe and clock), counters."""

from __future__ import annotations

from types import SimpleNamespace

from dbrouter import decision as d
from dbrouter.conf import RouterConfig
from dbrouter.context import RoutingContext
from dbrouter.decision import ReplicaSnapshot
from dbrouter.health import HealthRegistry
from dbrouter.router import ReplicaRouter

CFG = RouterConfig(
    read_aliases=("db1", "db2", "db3"), max_lag_bytes=1000, max_lag_seconds=5.0, primary_models=("auth.user",)
)


class World:
    def __init__(self) -> None:
        self.now = 0.0
        self.snaps = {
            "db1": (False, None, None),
            "db2": (True, 100, 100),
            "db3": (True, 100, 100),
        }
        self.failing: set[str] = set()
        self.probes: list[str] = []
        self.atomic = False
        self.ctx: RoutingContext | None = RoutingContext()
        self.counts: list[tuple[str, str]] = []
        self.registry = HealthRegistry(
            self.probe, cache_seconds=0.05, down_seconds=5.0, clock=lambda: self.now
        )
        self.router = ReplicaRouter(
            config=lambda: CFG,
            registry=lambda: self.registry,
            in_atomic=lambda alias: alias == "default" and self.atomic,
            context=lambda: self.ctx,
            count=lambda alias, reason: self.counts.append((alias, reason)),
        )

    def probe(self, alias: str) -> ReplicaSnapshot:
        self.probes.append(alias)
        if alias in self.failing:
            raise OSError("refused")
        rec, receive, replay = self.snaps[alias]
        return ReplicaSnapshot(rec, receive, replay, 0.0, taken_at=self.now)


def model(label: str = "shop.item"):
    return SimpleNamespace(_meta=SimpleNamespace(label_lower=label))


def test_reads_a_replica_and_keeps_it_for_the_context() -> None:
    w = World()
    first = w.router.db_for_read(model())
    w.snaps[first] = (True, 9000, 100)  # lagging now: the kept choice still stands for this context
    w.now += 1.0  # snapshots stale: the kept choice is reused without new probes
    probes = len(w.probes)
    assert [w.router.db_for_read(model()) for _ in range(5)] == [first] * 5
    assert len(w.probes) == probes
    assert first in ("db2", "db3")
    assert w.ctx.reads == [first]


def test_new_contexts_spread_over_replicas() -> None:
    w = World()
    seen = set()
    for rotation in range(4):
        w.ctx = RoutingContext(rotation=rotation)
        seen.add(w.router.db_for_read(model()))
    assert seen == {"db2", "db3"}


def test_write_goes_to_primary_and_pins_later_reads() -> None:
    w = World()
    assert w.router.db_for_read(model()) in ("db2", "db3")
    assert w.router.db_for_write(model()) == "default"
    assert w.ctx.wrote
    assert w.router.db_for_read(model()) == "default"
    assert w.counts[-2:] == [("default", d.WRITE), ("default", d.PINNED_WRITE)]
    assert w.ctx.served_reads()[-1] == "default"


def test_reads_in_an_open_transaction_go_to_primary_but_only_while_it_is_open() -> None:
    w = World()
    w.atomic = True
    assert w.router.db_for_read(model()) == "default"
    assert w.counts == [("default", d.PINNED_TXN)]
    w.atomic = False
    assert w.router.db_for_read(model()) in ("db2", "db3")


def test_carried_lsn_routes_to_primary_when_replicas_are_behind() -> None:
    w = World()
    w.ctx = RoutingContext(min_lsn=150)
    assert w.router.db_for_read(model()) == "default"
    assert ("default", d.LSN_BEHIND) in w.counts
    assert ("db2", d.LSN_BEHIND) in w.counts and ("db3", d.LSN_BEHIND) in w.counts
    # another context without an LSN still reads a replica
    w.ctx = RoutingContext()
    assert w.router.db_for_read(model()) in ("db2", "db3")


def test_carried_lsn_reads_a_replica_that_has_replayed_it() -> None:
    w = World()
    w.snaps["db3"] = (True, 200, 200)
    w.ctx = RoutingContext(min_lsn=150)
    assert w.router.db_for_read(model()) == "db3"


def test_lagging_replica_is_skipped() -> None:
    w = World()
    w.snaps["db2"] = (True, 5000, 100)
    for rotation in range(3):
        w.ctx = RoutingContext(rotation=rotation)
        assert w.router.db_for_read(model()) == "db3"
    assert ("db2", d.LAGGING) in w.counts


def test_dead_replica_marked_down_and_probed_back_after_down_seconds() -> None:
    w = World()
    w.failing.add("db2")
    for rotation in range(3):
        w.ctx = RoutingContext(rotation=rotation)
        assert w.router.db_for_read(model()) == "db3"
    assert w.probes.count("db2") == 1
    assert w.registry.is_down("db2")
    w.failing.clear()
    w.now += 5.0
    seen = set()
    for rotation in range(2):
        w.ctx = RoutingContext(rotation=rotation)
        seen.add(w.router.db_for_read(model()))
    assert seen == {"db2", "db3"}


def test_kept_replica_marked_down_mid_context_is_replaced() -> None:
    w = World()
    first = w.router.db_for_read(model())
    w.registry.mark_down(first)
    other = w.router.db_for_read(model())
    assert other != first and other in ("db2", "db3")
    assert w.ctx.reads == [first, other]


def test_all_replicas_down_reads_primary() -> None:
    w = World()
    w.failing.update({"db2", "db3"})
    assert w.router.db_for_read(model()) == "default"
    assert w.counts[-1] == ("default", d.DOWN)


def test_primary_listed_as_candidate_is_never_read_as_replica() -> None:
    w = World()
    for rotation in range(6):
        w.ctx = RoutingContext(rotation=rotation)
        assert w.router.db_for_read(model()) != "db1"
    assert ("db1", d.NOT_IN_RECOVERY) in w.counts


def test_after_failover_old_primary_as_replica_is_used_and_new_primary_is_not() -> None:
    w = World()
    w.snaps["db1"] = (True, 100, 100)
    w.snaps["db2"] = (False, None, None)
    seen = set()
    for rotation in range(4):
        w.ctx = RoutingContext(rotation=rotation)
        seen.add(w.router.db_for_read(model()))
    assert seen == {"db1", "db3"}


def test_no_context_reads_primary() -> None:
    w = World()
    w.ctx = None
    assert w.router.db_for_read(model()) == "default"
    assert w.router.db_for_write(model()) == "default"


def test_primary_models_always_read_primary() -> None:
    w = World()
    assert w.router.db_for_read(model("auth.user")) == "default"
    assert w.router.db_for_read(model("shop.item")) in ("db2", "db3")


def test_allow_migrate_only_on_primary() -> None:
    w = World()
    assert w.router.allow_migrate("default", "shop") is True
    for alias in ("db1", "db2", "db3", "other"):
        assert w.router.allow_migrate(alias, "shop") is False


def test_allow_relation_within_the_replication_set() -> None:
    w = World()

    def obj(db):
        return SimpleNamespace(_state=SimpleNamespace(db=db))

    assert w.router.allow_relation(obj("default"), obj("db2")) is True
    assert w.router.allow_relation(obj("db3"), obj("db2")) is True
    assert w.router.allow_relation(obj("db2"), obj("elsewhere")) is None


def test_a_cached_position_behind_the_callers_lsn_is_rechecked_once() -> None:
    w = World()
    w.router.db_for_read(model())  # caches db2/db3 at replay 100
    w.snaps["db2"] = w.snaps["db3"] = (True, 200, 200)  # replayed since, within the cache window
    w.ctx = RoutingContext(min_lsn=150)
    probes = len(w.probes)
    chosen = w.router.db_for_read(model())
    assert chosen in ("db2", "db3")
    assert len(w.probes) == probes + 2  # one fresh probe per replica behind the LSN, no more
    assert w.router.db_for_read(model()) == chosen
    assert len(w.probes) == probes + 2


def test_a_replica_still_behind_after_the_recheck_sends_the_read_to_the_primary() -> None:
    w = World()
    w.router.db_for_read(model())
    w.ctx = RoutingContext(min_lsn=150)
    assert w.router.db_for_read(model()) == "default"
    assert ("default", d.LSN_BEHIND) in w.counts
