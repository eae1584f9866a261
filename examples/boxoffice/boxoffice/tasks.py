"""Background tasks (Django's tasks framework, django-tasks-db backend), run by the worker nodes.

Both are queued in the request's own transaction (:func:`enqueue_with_commit`): they exist exactly when it
commits, and are never run in the request. Each runs inside a dbrouter routing context, like a request, and reads its row from the primary
(the enqueuing commit may not have reached a replica yet). Both are idempotent: a task re-run after a
worker crash or a retry finds what an earlier run stored and keeps it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django_tasks import task
from django_tasks.base import Task

from boxoffice import caching, images, swr
from boxoffice.models import Event, Order, private_storage
from dbrouter.context import routing_context
from tiers_site.worker import RetryPolicy

log = logging.getLogger("tiers.tasks")
PRIMARY = "default"
MAX_HOLD_SECONDS = 30.0


def enqueue_with_commit(t: Task[Any, Any], *args: Any, **kwargs: Any) -> None:
    """Queue a task so that it exists exactly when the caller's transaction commits.

    The queue is a table in the same database (django-tasks-db), so the task row is written in the caller's
    transaction: workers cannot see it before the commit, and a rollback removes it with the order or upload
    (an outbox). ``transaction.on_commit(enqueue)`` would leave a window where the order is committed but the
    task never written (the process or the primary dies in between). Outside a transaction (autocommit) the
    row is committed at once. Either way the request never runs the task itself.
    """
    t.enqueue(*args, **kwargs)


def _invalidate_event(event_id: int) -> None:
    swr.invalidate(cache, caching.LIST_GEN)
    swr.invalidate(cache, caching.detail_gen(event_id))


def _put_public(name: str, data: bytes) -> None:
    """Store at exactly ``name`` unless it is already there (a re-run): never a renamed copy."""
    if not default_storage.exists(name):
        stored = default_storage.save(name, ContentFile(data))
        if stored != name:  # a concurrent run won the race: keep its copy
            default_storage.delete(stored)


def event_images_impl(event_id: int, hold_seconds: float = 0.0) -> dict[str, Any]:
    with routing_context():
        event = Event.objects.using(PRIMARY).filter(pk=event_id).first()
        if event is None:
            return {"skipped": "no such event"}
        original = event.image.name or ""
        action = images.images_action(event.published, original, event.image_display.name or "")
        if action is None:
            return {"skipped": "up to date"}
        old = [n for n in (event.image_display.name, event.image_thumb.name) if n]
        if action == "remove":
            Event.objects.filter(pk=event_id).update(image_display="", image_thumb="")
            for name in old:
                default_storage.delete(name)
            _invalidate_event(event_id)
            return {"removed": old}
        with event.image.open("rb") as fh:
            data = fh.read()
        if hold_seconds:  # drills only: lets a test kill the worker while this task is running
            time.sleep(min(hold_seconds, MAX_HOLD_SECONDS))
        display, thumb = images.derivative_names(original)
        _put_public(display, images.render_jpeg(data, images.DISPLAY_SIDE))
        _put_public(thumb, images.render_jpeg(data, images.THUMB_SIDE))
        # Only if the original is still the one we worked from (a newer upload has its own task).
        updated = Event.objects.filter(pk=event_id, image=original, published=True).update(
            image_display=display, image_thumb=thumb
        )
        if not updated:
            for name in (display, thumb):
                default_storage.delete(name)
            return {"skipped": "image changed meanwhile"}
        for name in old:
            if name not in (display, thumb):
                default_storage.delete(name)
        _invalidate_event(event_id)
        log.info("event %s images: %s, %s", event_id, display, thumb)
        return {"display": display, "thumb": thumb}


@task()
def event_images(event_id: int, hold_seconds: float = 0.0) -> dict[str, Any]:
    """Make (or remove) an event's public display image and thumbnail from its private original."""
    return event_images_impl(event_id, hold_seconds)


event_images.func.retry_policy = RetryPolicy(max_attempts=3, base_delay=1.0)  # type: ignore[attr-defined]


def ticket_lines(order: Order) -> list[str]:
    event = order.event
    return [
        "Tiers box office - ticket",
        f"Event: {event.title}",
        f"Venue: {event.venue}",
        f"Starts: {event.starts_at:%Y-%m-%d %H:%M} UTC",
        f"Tickets: {order.quantity} x {order.unit_price} = {order.total}",
        f"Order: {order.pk}   Buyer: {order.user.get_username()}",
        f"Reference: {order.idempotency_key[:32]}",
    ]


@task()
def order_confirmation(order_id: int) -> dict[str, Any]:
    """The buyer's ticket PDF (private bucket) and a confirmation e-mail."""
    with routing_context():
        order = Order.objects.using(PRIMARY).select_related("event", "user").filter(pk=order_id).first()
        if order is None:
            return {"skipped": "no such order"}
        name = order.ticket_pdf.name
        if not name:
            storage = private_storage()
            name = storage.save(f"tickets/{order.idempotency_key[:8]}-{order.pk}.pdf",
                                ContentFile(images.ticket_pdf(ticket_lines(order))))  # fmt: skip
            if not Order.objects.filter(pk=order.pk, ticket_pdf="").update(ticket_pdf=name):
                storage.delete(name)  # an earlier run stored one first
                name = Order.objects.using(PRIMARY).values_list("ticket_pdf", flat=True).get(pk=order.pk)
        if order.user.email:
            # At least once: a worker killed after this line sends it again on the re-run.
            send_mail(
                f"Your tickets for {order.event.title}",
                "\n".join(ticket_lines(order)) + "\n\nYour ticket PDF is on your orders page.\n",
                None,
                [order.user.email],
            )
        return {"ticket_pdf": name}


order_confirmation.func.retry_policy = RetryPolicy(max_attempts=5, base_delay=2.0)  # type: ignore[attr-defined]


def event_saved(sender: type, instance: Event, **kwargs: Any) -> None:
    """post_save of an Event (admin, the organizer form, the shell): queue its public images' update if
    a new original, a publish or an unpublish makes them wrong."""
    action = images.images_action(
        instance.published, instance.image.name or "", instance.image_display.name or ""
    )
    if action is not None:
        enqueue_with_commit(event_images, instance.pk)
