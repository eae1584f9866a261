"""Cached read paths of the box office (event list, event detail) and their invalidation."""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache
from django.db import transaction

from boxoffice import swr
from boxoffice.models import Event

LIST_KEY = "boxoffice:events:list:v1"
LIST_GEN = "boxoffice:events:list:gen"
# tickets_left in the list may lag a purchase by at most this long; the detail page is always exact.
LIST_FRESH_SECONDS = 2.0
DETAIL_FRESH_SECONDS = 60.0


def detail_key(event_id: int) -> str:
    return f"boxoffice:event:{event_id}:v1"


def detail_gen(event_id: int) -> str:
    return f"boxoffice:event:{event_id}:gen"


def event_static(event: Event) -> dict[str, Any]:
    """The part of an event that changes only when an organizer edits it."""
    return {
        "id": event.pk,
        "title": event.title,
        "venue": event.venue,
        "starts_at": event.starts_at.isoformat(),
        "capacity": event.capacity,
        "price": str(event.price),
        # The worker's public copies (boxoffice.tasks.event_images), never the private original.
        "image_url": event.image_display.url if event.image_display else None,
        "thumb_url": event.image_thumb.url if event.image_thumb else None,
    }


def _build_list() -> list[dict[str, Any]]:
    return [{**event_static(e), "tickets_left": e.tickets_left} for e in Event.objects.filter(published=True)]


# A per-process copy of the list in front of memcached: the hottest read of an onsale rush then costs
# no network round trip at all. It lives LOCAL_LIST_SECONDS, so an organizer's edit made on another node
# shows everywhere within that long; writes made in this process drop it at once.
LOCAL_LIST_SECONDS = 1.0
_local_list: tuple[float, list[dict[str, Any]]] | None = None


def event_list() -> list[dict[str, Any]]:
    global _local_list
    now = time.monotonic()
    local = _local_list
    if local is not None and now < local[0]:
        return local[1]
    value = swr.get_or_build(
        cache, LIST_KEY, _build_list, fresh=LIST_FRESH_SECONDS, ttl=300, gen_key=LIST_GEN
    )
    _local_list = (now + LOCAL_LIST_SECONDS, value)
    return value


def drop_local_list() -> None:
    global _local_list
    _local_list = None


def event_detail(event_id: int) -> dict[str, Any] | None:
    """Static fields from the cache (None for an unknown/unpublished event), tickets_left read fresh."""

    def build() -> dict[str, Any] | None:
        event = Event.objects.filter(pk=event_id, published=True).first()
        return event_static(event) if event else None

    static = swr.get_or_build(
        cache, detail_key(event_id), build, fresh=DETAIL_FRESH_SECONDS, ttl=600, gen_key=detail_gen(event_id)
    )
    if static is None:
        return None
    row = Event.objects.filter(pk=event_id, published=True).values("capacity", "tickets_sold").first()
    if row is None:  # unpublished/deleted since it was cached
        return None
    left = max(0, row["capacity"] - row["tickets_sold"])
    return {**static, "capacity": row["capacity"], "tickets_left": left}


def tickets_changed(using: str = "default") -> None:
    """After a purchase commits, the list's tickets_left is stale."""

    def bump() -> None:
        drop_local_list()
        swr.invalidate(cache, LIST_GEN)

    transaction.on_commit(bump, using=using)


def event_changed(sender: type, instance: Event, **kwargs: Any) -> None:
    """post_save/post_delete of an Event (admin edits, seeding)."""
    using = kwargs.get("using") or "default"

    def bump() -> None:
        drop_local_list()
        swr.invalidate(cache, LIST_GEN)
        swr.invalidate(cache, detail_gen(instance.pk))

    transaction.on_commit(bump, using=using)
