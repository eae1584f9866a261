"""Input validation and purchase errors of the box office: pure, importable without Django set up."""

from __future__ import annotations

import re
from typing import Any

MAX_PER_ORDER = 10
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,100}$")  # printable ASCII, no spaces


class PurchaseError(Exception):
    """A purchase refused for a reason the buyer can act on."""

    status = 400
    code = "invalid"
    field: str | None = None

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class InvalidInput(PurchaseError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class EventNotFound(PurchaseError):
    status = 404
    code = "not_found"


class SoldOut(PurchaseError):
    status = 409
    code = "sold_out"


class BuyerCapReached(PurchaseError):
    status = 409
    code = "per_buyer_cap"
    field = "quantity"


class KeyReused(PurchaseError):
    status = 422
    code = "idempotency_key_reused"
    field = "Idempotency-Key"


def validate_quantity(raw: Any) -> int:
    """A JSON integer in 1..MAX_PER_ORDER (not a bool, float or string)."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise InvalidInput("quantity", f"quantity must be an integer between 1 and {MAX_PER_ORDER}")
    if not 1 <= raw <= MAX_PER_ORDER:
        raise InvalidInput("quantity", f"quantity must be between 1 and {MAX_PER_ORDER}, got {raw}")
    return raw


def validate_form_quantity(raw: str | None) -> int:
    """The HTML form sends text: '3' is fine, '3.5' or '' is not."""
    text = (raw or "").strip()
    if not text.lstrip("-").isdigit():
        raise InvalidInput("quantity", f"quantity must be an integer between 1 and {MAX_PER_ORDER}")
    return validate_quantity(int(text))


def validate_idempotency_key(raw: str | None) -> str:
    if raw is None or raw == "":
        raise InvalidInput("Idempotency-Key", "the Idempotency-Key header is required (any unique token)")
    if not _KEY_RE.match(raw):
        raise InvalidInput("Idempotency-Key", "Idempotency-Key must be 1-100 printable ASCII characters")
    return raw
