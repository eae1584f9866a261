"""Settings parsing, probe parameters/rows, cookie and header helpers, connect-time fallback, counters."""

from __future__ import annotations

import threading

import pytest

from dbrouter import decision as d
from dbrouter import metrics
from dbrouter.backends.failover import fallback_targets
from dbrouter.conf import RouterConfig, build_config
from dbrouter.middleware import cookie_lsn, newer_lsn, reads_header
from dbrouter.probe import connect_params, snapshot_from_row

# --- settings ----------------------------------------------------------------------------------------


def test_defaults_read_every_alias_but_the_primary() -> None:
    cfg = build_config({}, ("default", "db1", "db2"))
    assert cfg.read_aliases == ("db1", "db2")
    assert cfg.lsn_cache_seconds == 0.05 and cfg.down_seconds == 5.0 and cfg.connect_timeout == 2.0


def test_settings_keys_are_converted() -> None:
    cfg = build_config(
        {"READ_ALIASES": ["db2"], "MAX_LAG_BYTES": "2048", "MAX_LAG_SECONDS": 3, "DOWN_SECONDS": 1},
        ("default", "db1", "db2"),
    )
    assert (cfg.read_aliases, cfg.max_lag_bytes, cfg.max_lag_seconds, cfg.down_seconds) == (
        ("db2",),
        2048,
        3.0,
        1.0,
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"MAX_LAG_BYTE": 1}, "unknown key.*MAX_LAG_BYTE"),
        ({"READ_ALIASES": ["default"]}, "must not contain the primary"),
        ({"DOWN_SECONDS": -1}, "DOWN_SECONDS must be >= 0"),
        ({"MAX_LAG_BYTES": "lots"}, "MAX_LAG_BYTES"),
        ({"READS_OUTSIDE_CONTEXT": "anywhere"}, "READS_OUTSIDE_CONTEXT"),
    ],
)
def test_bad_settings_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_config(raw, ("default",))


# --- probe helpers -----------------------------------------------------------------------------------


def test_connect_params_from_settings_dict() -> None:
    sd = {
        "NAME": "tiers",
        "USER": "app",
        "PASSWORD": "pw",
        "HOST": "127.0.2.2",
        "PORT": "5432",
        "OPTIONS": {"sslmode": "disable", "isolation_level": 2, "connect_timeout": 30},
    }
    assert connect_params(sd, 2.0) == {
        "sslmode": "disable",
        "dbname": "tiers",
        "user": "app",
        "password": "pw",
        "host": "127.0.2.2",
        "port": 5432,
        "connect_timeout": 2,
        "application_name": "dbrouter-probe",
    }


def test_connect_timeout_is_at_least_one_second() -> None:
    assert connect_params({"HOST": "h"}, 0.2)["connect_timeout"] == 1


def test_snapshot_from_row_parses_lsns_as_integers() -> None:
    snap = snapshot_from_row((True, "16/B374D848", "16/B374D000", 1.5), taken_at=9.0)
    assert snap == d.ReplicaSnapshot(True, (0x16 << 32) | 0xB374D848, (0x16 << 32) | 0xB374D000, 1.5, 9.0)
    primary = snapshot_from_row((False, None, None, None), taken_at=9.0)
    assert primary.in_recovery is False and primary.replay_lsn is None and primary.replay_age_seconds is None


# --- middleware helpers ------------------------------------------------------------------------------


def test_cookie_lsn_ignores_missing_and_garbage() -> None:
    assert cookie_lsn(None) is None
    assert cookie_lsn("") is None
    assert cookie_lsn("not-an-lsn") is None
    assert cookie_lsn("0/10") == 16


def test_stored_lsn_never_moves_backwards() -> None:
    assert newer_lsn(None, 5) == 5
    assert newer_lsn(9, 5) == 9
    assert newer_lsn(5, 9) == 9
    assert newer_lsn(None, None) is None


def test_reads_header() -> None:
    assert reads_header(["db2", "default"]) == "db2,default"
    assert reads_header([]) == "none"


# --- connect-time fallback ---------------------------------------------------------------------------


def test_fallback_is_one_other_replica_then_primary() -> None:
    ok = {"db1": d.NOT_IN_RECOVERY, "db2": d.DOWN, "db3": d.REPLICA}
    assert fallback_targets("db2", ["db1", "db2", "db3"], ok.__getitem__, "default") == ["db3", "default"]


def test_fallback_straight_to_primary_when_no_other_replica_qualifies() -> None:
    bad = {"db1": d.NOT_IN_RECOVERY, "db2": d.REPLICA, "db3": d.LSN_BEHIND}
    # db2 itself is the failed one, even if its cached snapshot still looks fine
    assert fallback_targets("db2", ["db1", "db2", "db3"], bad.__getitem__, "default") == ["default"]


# --- counters ----------------------------------------------------------------------------------------


def test_counters_are_thread_safe_and_copied() -> None:
    counters = metrics.Counters()

    def work() -> None:
        for _ in range(10_000):
            counters.incr("db2", "replica")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counters.incr("default", "pinned-write", 3)
    snap = counters.snapshot()
    assert snap == {"db2": {"replica": 40_000}, "default": {"pinned-write": 3}}
    snap["db2"]["replica"] = 0
    assert counters.snapshot()["db2"]["replica"] == 40_000
    counters.reset()
    assert counters.snapshot() == {}


def test_module_counters_roundtrip() -> None:
    metrics.reset()
    metrics.incr("db3", "lagging")
    assert metrics.counters() == {"db3": {"lagging": 1}}
    metrics.reset()


def test_config_dataclass_is_frozen() -> None:
    with pytest.raises(AttributeError):
        RouterConfig().down_seconds = 1  # type: ignore[misc]
