"""Django admin for organizers: events (with image upload) and a read-only view of orders."""

from django.contrib import admin

from boxoffice.forms import EventAdminForm
from boxoffice.models import Event, Order


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    # The image field checks content, size and pixels (boxoffice.uploads); the worker makes the public copies.
    form = EventAdminForm
    list_display = (
        "title", "venue", "starts_at", "capacity", "tickets_sold", "max_tickets_per_buyer", "price", "published",
    )  # fmt: skip
    list_filter = ("published", "venue")
    search_fields = ("title", "venue")
    readonly_fields = ("tickets_sold", "image_display", "image_thumb")
    date_hierarchy = "starts_at"


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "event", "user", "quantity", "unit_price", "created_at")
    list_select_related = ("event", "user")
    search_fields = ("user__username", "event__title", "idempotency_key")
    # Orders come from buyers only: organizers look, never edit.
    readonly_fields = ("user", "event", "quantity", "unit_price", "idempotency_key", "created_at")

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
