"""Django admin for organizers: events (with image upload), onsales and their live queue, read-only orders."""

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from boxoffice.forms import EventAdminForm
from boxoffice.models import Event, Onsale, Order, QueueEntry


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


@admin.register(Onsale)
class OnsaleAdmin(admin.ModelAdmin):
    """Turn an event's waiting room on or off and tune it; the list shows the line live (refreshes itself)."""

    # Adds a refresh every few seconds to the list: queue length, admitted and sell-through, live.
    change_list_template = "admin/boxoffice/onsale/change_list.html"
    list_display = (
        "event", "enabled", "opens_at", "checkout_capacity", "admission_rate",
        "in_line", "admitted", "bought", "sell_through",
    )  # fmt: skip
    list_select_related = ("event",)
    fields = ("event", "enabled", "opens_at", "checkout_capacity", "admission_rate", "admission_ttl_s")
    readonly_fields = ("shuffled", "last_ordinal", "admitted_through", "last_admission_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Onsale]:
        state = "entries__state"
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_waiting=Count("entries", filter=Q(**{state: QueueEntry.WAITING})),
                n_admitted=Count("entries", filter=Q(**{state: QueueEntry.ADMITTED})),
                n_done=Count("entries", filter=Q(**{state: QueueEntry.DONE})),
            )
        )

    @admin.display(description="in line", ordering="n_waiting")
    def in_line(self, obj: Onsale) -> int:
        return obj.n_waiting  # type: ignore[attr-defined]

    @admin.display(description="admitted now", ordering="n_admitted")
    def admitted(self, obj: Onsale) -> int:
        return obj.n_admitted  # type: ignore[attr-defined]

    @admin.display(description="bought", ordering="n_done")
    def bought(self, obj: Onsale) -> int:
        return obj.n_done  # type: ignore[attr-defined]

    @admin.display(description="sell-through")
    def sell_through(self, obj: Onsale) -> str:
        event = obj.event
        share = event.tickets_sold / event.capacity if event.capacity else 0
        return f"{event.tickets_sold}/{event.capacity} ({share:.0%})"
