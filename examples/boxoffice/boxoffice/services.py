"""Buying tickets: never oversell, never create two orders for one Idempotency-Key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from boxoffice.caching import tickets_changed
from boxoffice.models import Event, Order
from boxoffice.tasks import enqueue_with_commit, order_confirmation
from boxoffice.validation import BuyerCapReached, EventNotFound, KeyReused, SoldOut

PRIMARY = "default"


def _existing(user: Any, event_id: int, quantity: int, key: str) -> Order | None:
    order = Order.objects.using(PRIMARY).filter(user=user, idempotency_key=key).first()
    if order is not None and (order.event_id != event_id or order.quantity != quantity):
        raise KeyReused(
            f"Idempotency-Key {key!r} was already used for order {order.pk} "
            f"({order.quantity} ticket(s) for event {order.event_id}); use a new key for a new order"
        )
    return order


def _within_cap(user: Any, event_id: int, quantity: int, cap: int) -> None:
    """The buyer's tickets for the event, this order included, stay within the event's cap.

    Called after the conditional UPDATE, so the transaction holds the event's row lock: every other
    purchase of this event (the same buyer's on any node included) waits until this one commits, and
    the sum below sees every order committed before it. Refusing raises, which rolls the seats back.
    """
    held = Order.objects.using(PRIMARY).filter(user=user, event_id=event_id).aggregate(n=Sum("quantity"))["n"]
    if (held or 0) + quantity > cap:
        left = max(0, cap - (held or 0))
        raise BuyerCapReached(
            f"at most {cap} ticket(s) per buyer for this event; you hold {held or 0}, so {left} more at most",
            max_per_buyer=cap,
            tickets_held=held or 0,
        )


def place_order(
    user: Any, event_id: int, quantity: int, key: str, admission: Callable[[], None] | None = None
) -> tuple[Order, bool]:
    """(order, created). A replayed key returns the first order; raises PurchaseError subclasses.

    All on the primary, in one transaction: a conditional UPDATE takes the seats only if they are left
    (concurrent buyers on any node serialize on the event's row), the buyer's cap is checked under that
    row lock, then the order row is inserted. The unique (user, idempotency_key) constraint turns a
    concurrent replay into an IntegrityError, which rolls the seats back and returns the order that won.

    The writes name no alias on purpose: they go through the router's db_for_write (always the primary),
    which is how dbrouter learns that this request wrote and records its LSN for read-your-writes.

    ``admission`` (boxoffice.waitingroom.admission_check) runs first in the transaction: during an onsale
    it consumes the buyer's one-time admission, so the admission is used if and only if the order commits.
    """
    existing = _existing(user, event_id, quantity, key)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic(using=PRIMARY):
            if admission is not None:
                admission()
            events = Event.objects.filter(pk=event_id, published=True)
            taken = events.filter(capacity__gte=F("tickets_sold") + quantity).update(
                tickets_sold=F("tickets_sold") + quantity
            )
            if not taken:
                row = events.using(PRIMARY).values("capacity", "tickets_sold").first()
                if row is None:
                    raise EventNotFound(f"no event {event_id}")
                left = max(0, row["capacity"] - row["tickets_sold"])
                message = "sold out" if left == 0 else f"only {left} ticket(s) left, asked for {quantity}"
                raise SoldOut(message, tickets_left=left)
            price, cap = events.using(PRIMARY).values_list("price", "max_tickets_per_buyer").get()
            _within_cap(user, event_id, quantity, cap)
            order = Order.objects.create(
                user=user, event_id=event_id, quantity=quantity, unit_price=price, idempotency_key=key
            )
            tickets_changed(PRIMARY)
            # Ticket PDF and e-mail by a worker: the task row commits (or rolls back) with the order.
            enqueue_with_commit(order_confirmation, order.pk)
    except IntegrityError:
        # Another request with the same key committed first (maybe on another node).
        existing = _existing(user, event_id, quantity, key)
        if existing is None:
            raise
        return existing, False
    return order, True


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.pk,
        "event_id": order.event_id,
        "event_title": order.event.title,
        "quantity": order.quantity,
        "unit_price": str(order.unit_price),
        "total": str(order.total),
        "idempotency_key": order.idempotency_key,
        "created_at": order.created_at.isoformat(),
    }
