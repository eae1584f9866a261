"""The paginated lists of the box office (API and pages share them): events and a buyer's orders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q

from boxoffice import caching, cursors
from boxoffice.models import Order


def event_key(event: dict[str, Any]) -> cursors.Key:
    return datetime.fromisoformat(event["starts_at"]), event["id"]


def events_page(after: str | None, size: int) -> tuple[list[dict[str, Any]], str | None]:
    """Published events by start time, from the cached list (boxoffice.caching)."""
    return cursors.page_after(caching.event_list(), event_key, cursors.decode(after), size)


def orders_page(user: Any, after: str | None, size: int) -> tuple[list[Order], str | None]:
    """The user's orders, newest first; a keyset query on the (user, created_at, id) index."""
    orders = Order.objects.filter(user=user).select_related("event").order_by("-created_at", "-id")
    key = cursors.decode(after)
    if key is not None:
        when, ident = key
        orders = orders.filter(Q(created_at__lt=when) | Q(created_at=when, id__lt=ident))
    rows = list(orders[: size + 1])
    page = rows[:size]
    more = len(rows) > size
    return page, (cursors.encode((page[-1].created_at, page[-1].pk)) if more else None)
