"""The waiting room's signed tokens and the refusals a buyer can act on (docs/ONSALE.md).

Two tokens, both ``django.core.signing`` (HMAC-SHA256 over JSON with a timestamp, keyed by SECRET_KEY and
a salt of their own, so one can never pass for the other):

- a *place* token, from joining: names the event, the buyer, their queue entry and (once it has one) its
  ordinal, so a poll can answer a waiting buyer from the cached snapshot alone; polls present it;
- an *admission* token, from a poll once admitted: names the event, the buyer and a one-time admission id,
  which the purchase consumes in its own transaction (a replay finds it used). It expires with the
  onsale's admission_ttl_s.

A token for another event or another buyer, altered, or too old is refused; nothing here reads a database.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core import signing

from boxoffice.validation import PurchaseError

PLACE_SALT = "boxoffice.waitingroom.place"
ADMISSION_SALT = "boxoffice.waitingroom.admission"
# A place is kept for a day: an onsale's line never lasts longer.
PLACE_MAX_AGE_S = 24 * 3600
# Longer than any token this module signs: longer input is refused before any HMAC is computed.
MAX_TOKEN_CHARS = 400


def queue_url(event_id: int) -> str:
    return f"/api/events/{event_id}/queue"


def waiting_page(event_id: int) -> str:
    return f"/events/{event_id}/queue"


class AdmissionRequired(PurchaseError):
    """403 naming where to queue: no admission, or one that cannot be used."""

    status = 403
    code = "admission_required"

    def __init__(self, event_id: int, message: str) -> None:
        super().__init__(message, queue_url=queue_url(event_id), waiting_page=waiting_page(event_id))


class TokenRefused(AdmissionRequired):
    code = "token_refused"


class AdmissionUsed(AdmissionRequired):
    code = "admission_used"


class NoOnsale(PurchaseError):
    status = 404
    code = "no_onsale"


def sign_place(event_id: int, user_id: int, entry_id: int, ordinal: int | None) -> str:
    """The place token; ``ordinal`` once the place has one (arrivals before the opening get it later)."""
    data = {"e": event_id, "u": user_id, "q": entry_id}
    if ordinal is not None:
        data["o"] = ordinal
    return signing.dumps(data, salt=PLACE_SALT)


def sign_admission(event_id: int, user_id: int, admission_id: uuid.UUID) -> str:
    return signing.dumps({"e": event_id, "u": user_id, "a": str(admission_id)}, salt=ADMISSION_SALT)


def _load(token: Any, salt: str, max_age: int, event_id: int, user_id: int, what: str) -> dict[str, Any]:
    if not isinstance(token, str) or not token:
        raise TokenRefused(event_id, f"no {what} token was sent")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRefused(event_id, f"the {what} token is too long to be one of ours")
    try:
        data = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise TokenRefused(event_id, f"the {what} token has expired (after {max_age} s)") from None
    except signing.BadSignature:
        raise TokenRefused(
            event_id, f"the {what} token is not valid (altered, forged or truncated)"
        ) from None
    if not isinstance(data, dict) or data.get("e") != event_id:
        raise TokenRefused(event_id, f"the {what} token is for another event")
    if data.get("u") != user_id:
        raise TokenRefused(event_id, f"the {what} token belongs to another buyer")
    return data


def read_place(token: Any, event_id: int, user_id: int) -> tuple[int, int | None]:
    """(queue entry id, ordinal or None) of a valid place token; TokenRefused otherwise."""
    data = _load(token, PLACE_SALT, PLACE_MAX_AGE_S, event_id, user_id, "queue")
    if not isinstance(data.get("q"), int) or not isinstance(data.get("o", 0), int):
        raise TokenRefused(event_id, "the queue token names no place")
    return data["q"], data.get("o")


def read_admission(token: Any, event_id: int, user_id: int, max_age: int) -> uuid.UUID:
    """The admission id of a valid admission token; TokenRefused otherwise."""
    data = _load(token, ADMISSION_SALT, max_age, event_id, user_id, "admission")
    try:
        return uuid.UUID(str(data.get("a")))
    except ValueError:
        raise TokenRefused(event_id, "the admission token names no admission") from None
