"""Pagination of every list: bounded page sizes and opaque cursors. Pure (no Django set up).

A cursor is the sort key of the last item of a page, ``(timestamp, id)``, as URL-safe base64 of JSON.
Keyset pages stay right while rows are added (an offset would repeat or skip them) and cost the same at
page 1,000 as at page 1. Cursors are not signed: a made-up one only moves within the caller's own list,
which is filtered by who asks, never by the cursor.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from boxoffice.validation import InvalidInput

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

T = TypeVar("T")
Key = tuple[datetime, int]


def page_size(raw: str | None) -> int:
    """``?limit=``: 1..MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE when absent."""
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise InvalidInput("limit", f"limit must be an integer between 1 and {MAX_PAGE_SIZE}, got {raw!r}")
    return int(raw)


def encode(key: Key) -> str:
    text = json.dumps([key[0].isoformat(), key[1]], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str | None) -> Key | None:
    """The cursor of a ``next`` link back to its key; None for no cursor; InvalidInput for garbage."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, ident = json.loads(raw)
        when = datetime.fromisoformat(stamp)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidInput(
            "cursor", "cursor is not one this site handed out: use the `next` link as is"
        ) from None
    if isinstance(ident, bool) or not isinstance(ident, int) or when.tzinfo is None:
        raise InvalidInput("cursor", "cursor is not one this site handed out: use the `next` link as is")
    return when, ident


def page_after(
    items: Sequence[T], key: Callable[[T], Key], after: Key | None, size: int
) -> tuple[list[T], str | None]:
    """One page of ``items`` (sorted ascending by ``key``) after the cursor key, and the next cursor."""
    rest = [item for item in items if after is None or key(item) > after]
    page = rest[:size]
    return page, (encode(key(page[-1])) if len(rest) > size else None)
