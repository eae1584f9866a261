"""Retry policy and crash recovery of the worker (tiers_site.worker), and private URL re-rooting."""

from __future__ import annotations

import datetime

import pytest

from tiers_site.storage import via_media_host
from tiers_site.worker import PermanentTaskError, RetryPolicy, is_orphan, retry_delay, worker_prefix

NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=2.0, max_delay=30.0)
    assert [policy.delay(n) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_retries_stop_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=1.0)
    error = OSError("S3 down")
    assert retry_delay(policy, 1, error) == 1.0
    assert retry_delay(policy, 2, error) == 2.0
    assert retry_delay(policy, 3, error) is None


def test_permanent_errors_are_not_retried() -> None:
    assert retry_delay(RetryPolicy(), 1, PermanentTaskError("original deleted")) is None


def test_a_task_left_running_by_this_nodes_dead_worker_is_an_orphan() -> None:
    started = NOW - datetime.timedelta(seconds=5)
    assert is_orphan(["worker1.old"], started, NOW, "worker1", lease=900)
    # Claimed earlier here, then by another node that is alive: not ours to take.
    assert not is_orphan(["worker1.old", "worker2.live"], started, NOW, "worker1", lease=900)
    # "worker10" is not "worker1": the prefix includes the dot.
    assert not is_orphan(["worker10.x"], started, NOW, "worker1", lease=900)
    assert worker_prefix("worker1") == "worker1."


def test_a_task_running_past_the_lease_is_an_orphan_whoever_ran_it() -> None:
    assert is_orphan(["worker2.x"], NOW - datetime.timedelta(seconds=901), NOW, "worker1", lease=900)
    assert not is_orphan(["worker2.x"], NOW - datetime.timedelta(seconds=899), NOW, "worker1", lease=900)
    assert not is_orphan([], None, NOW, "worker1", lease=900)


@pytest.mark.parametrize(
    ("signed", "public", "expected"),
    [
        (
            "http://127.0.4.1:8333/tiers-private/tickets/a-1.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab",
            "http://127.0.4.2:8080/private/",
            "http://127.0.4.2:8080/private/tiers-private/tickets/a-1.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab",
        ),
        (
            "https://s3.eu-west-1.amazonaws.com/bucket/k%20x.png?X-Amz-Signature=1",
            "https://media.example.com/private",
            "https://media.example.com/private/bucket/k%20x.png?X-Amz-Signature=1",
        ),
    ],
)
def test_signed_urls_are_re_rooted_on_the_media_host_verbatim(
    signed: str, public: str, expected: str
) -> None:
    assert via_media_host(signed, public) == expected
