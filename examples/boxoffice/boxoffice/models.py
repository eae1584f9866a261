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


class Onsale(models.Model):
    """An event sold through the waiting room (docs/ONSALE.md): while enabled, buying needs an admission.

    The organizer sets the first four fields; the admission pass (boxoffice.waitingroom) keeps the rest,
    always on the primary under this row's lock.
    """

    event = models.OneToOneField(Event, on_delete=models.CASCADE, primary_key=True, related_name="onsale")
    enabled = models.BooleanField(
        default=True, help_text="While on, buying needs an admission from the queue."
    )
    opens_at = models.DateTimeField(
        help_text="Arrivals before this are shuffled into a random order at opening."
    )
    checkout_capacity = models.PositiveIntegerField(
        default=100, validators=[MinValueValidator(1)], help_text="Buyers admitted to checkout at once."
    )
    admission_rate = models.PositiveIntegerField(
        default=20, validators=[MinValueValidator(1)], help_text="Admissions per second, at most."
    )
    admission_ttl_s = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(1)], help_text="Seconds an admitted buyer has to buy."
    )
    # Kept by the admission pass: the pre-opening arrivals are in their random order; the number of
    # places given out (ordinals are dense, 1..last_ordinal); every place up to admitted_through has
    # left the waiting state; when the last admissions were given (the rate's clock).
    shuffled = models.BooleanField(default=False, editable=False)
    last_ordinal = models.PositiveIntegerField(default=0, editable=False)
    admitted_through = models.PositiveIntegerField(default=0, editable=False)
    last_admission_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"Onsale of {self.event}"


class QueueEntry(models.Model):
    """One buyer's place in an onsale's line."""

    WAITING, ADMITTED, DONE, EXPIRED = "waiting", "admitted", "done", "expired"
    STATES = [(s, s) for s in (WAITING, ADMITTED, DONE, EXPIRED)]

    onsale = models.ForeignKey(Onsale, on_delete=models.CASCADE, related_name="entries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    joined_at = models.DateTimeField()
    # The place in line (1 = first). NULL for an arrival before the opening until the opening shuffle.
    ordinal = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=8, choices=STATES, default=WAITING)
    # The one-time admission: consumed (state DONE) in the purchase's transaction.
    admission_id = models.UUIDField(null=True, blank=True, unique=True)
    admitted_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "queue entries"
        constraints = [
            models.UniqueConstraint(fields=["onsale", "user"], name="queue_one_place_per_buyer"),
            models.UniqueConstraint(fields=["onsale", "ordinal"], name="queue_ordinal_unique"),
        ]
        # The admission pass's "next waiting in order" and the counts by state.
        indexes = [models.Index(fields=["onsale", "state", "ordinal"], name="queue_state_ordinal")]

    def __str__(self) -> str:
        return f"{self.user_id} at {self.ordinal} of {self.onsale_id} ({self.state})"
