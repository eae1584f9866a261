"""Pure parts of the onsale waiting room: tokens (signed, bound, expiring), the admission budget, positions."""

from __future__ import annotations

import time
import uuid

import pytest
from django.conf import settings
from django.core import signing

if not settings.configured:
    settings.configure(SECRET_KEY="unit-test-key-" + "x" * 40)

from boxoffice import admission
from boxoffice.queueing import admission_budget, closed, waiting


def test_a_place_token_reads_back_for_its_event_and_buyer_only() -> None:
    token = admission.sign_place(7, 42, 1001, 5)
    assert admission.read_place(token, 7, 42) == (1001, 5)
    assert admission.read_place(admission.sign_place(7, 42, 1001, None), 7, 42) == (1001, None)
    with pytest.raises(admission.TokenRefused, match="another buyer"):
        admission.read_place(token, 7, 43)
    with pytest.raises(admission.TokenRefused, match="another event"):
        admission.read_place(token, 8, 42)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"),  # signature altered
        lambda t: signing.dumps({"e": 7, "u": 42, "q": 1}, salt="another salt"),  # signed for another use
        lambda t: signing.dumps({"e": 7, "u": 42, "q": 1}, key="not-our-key", salt=admission.PLACE_SALT),
        lambda t: "",
        lambda t: None,
        lambda t: "x" * 5000,
    ],
)
def test_forged_or_foreign_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(admission.TokenRefused) as refused:
        admission.read_place(mangle(admission.sign_place(7, 42, 1, 1)), 7, 42)
    assert refused.value.status == 403
    assert refused.value.extra["queue_url"] == "/api/events/7/queue"


def test_an_admission_token_cannot_pass_as_a_place_token_or_outlive_its_ttl(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    aid = uuid.uuid4()
    token = admission.sign_admission(7, 42, aid)
    assert admission.read_admission(token, 7, 42, max_age=60) == aid
    with pytest.raises(admission.TokenRefused):
        admission.read_place(token, 7, 42)
    now = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now - 120)  # signed two minutes ago
    old = admission.sign_admission(7, 42, aid)
    monkeypatch.undo()
    with pytest.raises(admission.TokenRefused, match="expired"):
        admission.read_admission(old, 7, 42, max_age=60)
    assert admission.read_admission(old, 7, 42, max_age=300) == aid


@pytest.mark.parametrize(
    ("capacity", "active", "rate", "since", "expected"),
    [
        (50, 0, 20, None, 20),  # first pass: a full second's worth
        (50, 40, 20, 1.0, 10),  # only the checkout's free room
        (50, 50, 20, 5.0, 0),  # checkout full
        (50, 0, 20, 0.25, 5),  # a quarter second since the last admissions
        (50, 0, 20, 30.0, 20),  # a quiet spell lets no burst through
        (50, 60, 20, 1.0, 0),  # more active than capacity (capacity lowered): nobody
    ],
)
def test_admission_budget(capacity: int, active: int, rate: int, since: float | None, expected: int) -> None:
    assert admission_budget(capacity, active, rate, since) == expected


def test_position_is_ordinal_minus_those_admitted() -> None:
    snap = {"admitted_through": 120, "rate": 10}
    assert waiting(150, snap) == {
        "state": "waiting",
        "position": 30,
        "estimated_wait_s": 3,
        "poll_after_s": 1,
    }
    far = waiting(1120, snap)
    assert far["position"] == 1000 and far["estimated_wait_s"] == 100 and far["poll_after_s"] == 10
    assert waiting(100, snap)["position"] == 1  # behind a stale snapshot: never 0 or less


def test_off_or_sold_out_answers_everyone_the_same() -> None:
    assert closed({"enabled": True, "tickets_left": 3}) is None
    assert closed({"enabled": True, "tickets_left": 0})["state"] == "sold_out"  # type: ignore[index]
    assert closed({"enabled": False, "tickets_left": 3})["state"] == "open"  # type: ignore[index]
