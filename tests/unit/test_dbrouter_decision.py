"""The pure routing decision: pins, the kept choice, lag, LSN, down, and the fallback reason."""

from __future__ import annotations

from dataclasses import replace

from dbrouter import decision as d
from dbrouter.conf import RouterConfig

CFG = RouterConfig(read_aliases=("db1", "db2", "db3"), max_lag_bytes=1000, max_lag_seconds=5.0)
MB = 1 << 20


def snap(replay: int = 100, receive: int | None = 100, age: float | None = 0.1, rec: bool = True):
    return d.ReplicaSnapshot(
        in_recovery=rec, receive_lsn=receive, replay_lsn=replay, replay_age_seconds=age, taken_at=0.0
    )


def assess(s, *, down=False, min_lsn=None, primary_lsn=None, config=CFG):
    return d.assess(s, down=down, min_lsn=min_lsn, primary_lsn=primary_lsn, config=config)


# --- lag ---------------------------------------------------------------------------------------------


def test_lag_bytes_is_received_but_not_replayed() -> None:
    assert d.lag_bytes(snap(replay=100, receive=1100)) == 1000
    assert d.lag_bytes(snap(replay=100, receive=100)) == 0


def test_lag_bytes_also_counts_distance_to_known_primary_lsn() -> None:
    assert d.lag_bytes(snap(replay=100, receive=100), primary_lsn=5000) == 4900
    # A primary LSN older than the replay position is not negative lag.
    assert d.lag_bytes(snap(replay=100, receive=150), primary_lsn=50) == 50


def test_lag_bytes_unknown_on_a_primary() -> None:
    assert d.lag_bytes(snap(rec=False, replay=None, receive=None)) is None


def test_idle_primary_old_timestamp_but_caught_up_is_zero_seconds() -> None:
    assert d.lag_seconds(snap(replay=100, receive=100, age=3600.0)) == 0.0
    assert assess(snap(replay=100, receive=100, age=3600.0)) == d.REPLICA


def test_restarted_replica_receive_below_replay_counts_as_caught_up() -> None:
    assert d.lag_seconds(snap(replay=500, receive=100, age=3600.0)) == 0.0


def test_old_timestamp_with_unreplayed_wal_is_lagging() -> None:
    s = snap(replay=100, receive=200, age=6.0)
    assert d.lag_seconds(s) == 6.0
    assert assess(s) == d.LAGGING


def test_no_receiver_trusts_the_timestamp() -> None:
    assert d.lag_seconds(snap(replay=100, receive=None, age=2.5)) == 2.5
    assert d.lag_seconds(snap(replay=100, receive=None, age=None)) is None


def test_lagging_by_bytes() -> None:
    assert assess(snap(replay=100, receive=1101)) == d.LAGGING
    assert assess(snap(replay=100, receive=1100)) == d.REPLICA
    assert assess(snap(replay=100, receive=100), primary_lsn=100 + MB) == d.LAGGING


# --- assess ------------------------------------------------------------------------------------------


def test_down_or_unprobed_is_down() -> None:
    assert assess(snap(), down=True) == d.DOWN
    assert assess(None) == d.DOWN


def test_a_primary_in_the_candidate_list_is_skipped() -> None:
    assert assess(snap(rec=False, replay=None, receive=None, age=None)) == d.NOT_IN_RECOVERY


def test_lsn_behind_and_at_or_past() -> None:
    assert assess(snap(replay=99, receive=99), min_lsn=100) == d.LSN_BEHIND
    assert assess(snap(replay=100, receive=100), min_lsn=100) == d.REPLICA
    assert assess(snap(replay=101, receive=101), min_lsn=100) == d.REPLICA
    # Compared as numbers: 0x9_00000000 < 0x16_00000000 even though "9/0" > "16/0" as text.
    assert assess(snap(replay=0x9 << 32, receive=0x9 << 32), min_lsn=0x16 << 32) == d.LSN_BEHIND


def test_lag_is_checked_before_lsn() -> None:
    assert assess(snap(replay=50, receive=5000), min_lsn=100) == d.LAGGING


# --- choose / decide ---------------------------------------------------------------------------------


def fixed(results: dict[str, str]):
    calls: list[str] = []

    def assess_alias(alias: str) -> str:
        calls.append(alias)
        return results[alias]

    return assess_alias, calls


def test_round_robin_over_eligible_only() -> None:
    fn, _ = fixed({"db1": d.NOT_IN_RECOVERY, "db2": d.REPLICA, "db3": d.REPLICA})
    picks = [d.choose_replica(["db1", "db2", "db3"], fn, "default", start).alias for start in range(4)]
    assert picks == ["db2", "db3", "db2", "db3"]


def test_choice_reports_skipped_candidates() -> None:
    fn, _ = fixed({"db1": d.NOT_IN_RECOVERY, "db2": d.LAGGING, "db3": d.REPLICA})
    assert d.choose_replica(["db1", "db2", "db3"], fn, "default") == d.Decision(
        "db3", d.REPLICA, (("db1", d.NOT_IN_RECOVERY), ("db2", d.LAGGING))
    )


def test_fallback_to_primary_named_after_the_most_telling_reason() -> None:
    fn, _ = fixed({"db1": d.NOT_IN_RECOVERY, "db2": d.DOWN, "db3": d.LSN_BEHIND})
    assert d.choose_replica(["db1", "db2", "db3"], fn, "default").alias == "default"
    assert d.choose_replica(["db1", "db2", "db3"], fn, "default").reason == d.LSN_BEHIND
    assert d.fallback_reason([("a", d.DOWN), ("b", d.LAGGING)]) == d.LAGGING
    assert d.fallback_reason([("a", d.NOT_IN_RECOVERY), ("b", d.DOWN)]) == d.DOWN
    assert d.fallback_reason([]) == d.NO_REPLICA


def decide(**overrides):
    fn, calls = fixed({"db1": d.NOT_IN_RECOVERY, "db2": d.REPLICA, "db3": d.REPLICA})
    kwargs = dict(
        has_context=True,
        wrote=False,
        in_atomic=False,
        pinned_model=False,
        sticky=None,
        sticky_reason=None,
        sticky_down=False,
        candidates=("db1", "db2", "db3"),
        rotation=0,
        assess_alias=fn,
        config=CFG,
    )
    kwargs.update(overrides)
    return d.decide_read(**kwargs), calls


def test_fresh_choice_reads_a_replica() -> None:
    assert decide()[0] == d.Decision("db2", d.REPLICA, (("db1", d.NOT_IN_RECOVERY),))
    assert decide(rotation=1)[0].alias == "db3"


def test_after_a_write_reads_are_pinned_to_primary_without_probing() -> None:
    result, calls = decide(wrote=True, sticky="db2", sticky_reason=d.REPLICA)
    assert result == d.Decision("default", d.PINNED_WRITE)
    assert calls == []


def test_open_transaction_on_primary_pins_reads() -> None:
    assert decide(in_atomic=True)[0] == d.Decision("default", d.PINNED_TXN)


def test_write_pin_wins_over_transaction_pin() -> None:
    assert decide(in_atomic=True, wrote=True)[0].reason == d.PINNED_WRITE


def test_kept_choice_is_reused_without_probing() -> None:
    result, calls = decide(sticky="db3", sticky_reason=d.REPLICA)
    assert result == d.Decision("db3", d.REPLICA)
    assert calls == []


def test_kept_primary_fallback_is_reused_too() -> None:
    assert decide(sticky="default", sticky_reason=d.LSN_BEHIND, sticky_down=False)[0] == d.Decision(
        "default", d.LSN_BEHIND
    )


def test_kept_replica_that_went_down_is_replaced() -> None:
    result, calls = decide(sticky="db2", sticky_reason=d.REPLICA, sticky_down=True, rotation=1)
    assert result.alias == "db3"
    assert calls == ["db1", "db2", "db3"]


def test_no_context_reads_primary_by_default_or_replica_if_configured() -> None:
    assert decide(has_context=False)[0] == d.Decision("default", d.NO_CONTEXT)
    cfg = replace(CFG, reads_outside_context="replica")
    assert decide(has_context=False, config=cfg)[0].alias == "db2"


def test_pinned_model_reads_primary() -> None:
    assert decide(pinned_model=True)[0] == d.Decision("default", d.PINNED_MODEL)


def test_no_candidates_means_primary() -> None:
    assert decide(candidates=())[0] == d.Decision("default", d.NO_REPLICA)
