"""Box office: events with a fixed capacity, and orders that never oversell it."""

from __future__ import annotations

import posixpath
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.core.validators import MinValueValidator
from django.db import models


def private_storage() -> Storage:
    """The private bucket (ticket PDFs, original uploads): URLs are short-lived and signed."""
    return storages["private"]


def original_name(instance: Event, filename: str) -> str:
    """Originals are stored under a random name; only the (content-derived) extension is kept."""
    ext = posixpath.splitext(filename)[1].lower()[:6]
    return f"events/originals/{uuid.uuid4().hex}{ext}"


# A fan buys for a group, not for a resale stock.
DEFAULT_MAX_TICKETS_PER_BUYER = 10


class Event(models.Model):
    title = models.CharField(max_length=200)
    venue = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    capacity = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=8, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    # The organizer's upload, as sent (it may carry EXIF/GPS data): private bucket, never on a public page.
    image = models.ImageField(upload_to=original_name, storage=private_storage, blank=True)
    # Re-encoded by the worker (boxoffice.tasks.event_images) into the public media bucket, only while the
    # event is published: what pages show, served and cached by the media host.
    image_display = models.ImageField(upload_to="events/display/", blank=True, editable=False)
    image_thumb = models.ImageField(upload_to="events/thumbs/", blank=True, editable=False)
    published = models.BooleanField(default=True)
    # How many tickets one buyer may hold for this event, over all their orders (checked inside the
    # purchase transaction: boxoffice.services.place_order). A database default too, so a release that
    # does not know the column still inserts events.
    max_tickets_per_buyer = models.PositiveIntegerField(
        default=DEFAULT_MAX_TICKETS_PER_BUYER,
        db_default=DEFAULT_MAX_TICKETS_PER_BUYER,
        validators=[MinValueValidator(1)],
        help_text="Tickets one buyer may hold for this event, all orders together.",
    )
    # Only ever changed by a conditional UPDATE on the primary (boxoffice.services.place_order).
    tickets_sold = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            # The database's own backstop against overselling, whatever the code does.
            models.CheckConstraint(
                condition=models.Q(tickets_sold__lte=models.F("capacity")),
                name="event_tickets_sold_within_capacity",
                violation_error_message="Capacity cannot be lower than the tickets already sold.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.starts_at:%Y-%m-%d})"

    @property
    def tickets_left(self) -> int:
        return max(0, self.capacity - self.tickets_sold)


class Order(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="orders")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(max_digits=8, decimal_places=2)
    idempotency_key = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    # Written by the worker (boxoffice.tasks.order_confirmation); served to its buyer through a signed URL.
    ticket_pdf = models.FileField(upload_to="tickets/", storage=private_storage, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # "My orders", newest first, a page at a time (boxoffice.listing.orders_page).
            models.Index(fields=["user", "-created_at", "-id"], name="order_user_newest"),
            # The per-buyer cap sums a buyer's tickets of one event inside the purchase transaction.
            models.Index(fields=["event", "user"], name="order_event_user"),
        ]
        constraints = [
            # The same Idempotency-Key from the same user, on any node, can create one order only.
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="order_user_idempotency_key"),
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="order_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"Order {self.pk}: {self.quantity} x {self.event_id} for {self.user_id}"

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity
