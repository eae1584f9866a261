"""HTML pages: browse events, an event with its buy form, my orders (login/logout: Django's auth views)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from boxoffice import caching, listing
from boxoffice.admission import AdmissionRequired
from boxoffice.cursors import page_size
from boxoffice.services import place_order
from boxoffice.validation import (
    MAX_PER_ORDER,
    InvalidInput,
    PurchaseError,
    validate_form_quantity,
    validate_idempotency_key,
)
from boxoffice.waitingroom import admission_check, onsale_on


def page_context(
    request: HttpRequest, fetch: Callable[[str | None, int], tuple[list[Any], str | None]]
) -> dict:
    """One page of a list and the ``?after=`` cursor of the next (a bad cursor: 404, like a missing page)."""
    try:
        items, after = fetch(request.GET.get("after"), page_size(request.GET.get("limit")))
    except InvalidInput as exc:
        raise Http404(exc.message) from None
    return {"items": items, "next_after": after}


@require_safe
def event_list(request: HttpRequest) -> HttpResponse:
    return render(request, "boxoffice/event_list.html", page_context(request, listing.events_page))


def event_or_404(event_id: int) -> dict[str, Any]:
    """The cached event detail, or a 404 page."""
    event = caching.event_detail(event_id)
    if event is None:
        raise Http404(f"no event {event_id}")
    return event


@require_safe
def event_detail(request: HttpRequest, event_id: int) -> HttpResponse:
    event = event_or_404(event_id)
    context = {
        "event": event,
        # During an onsale the page sends buyers to the waiting room instead of showing the buy form.
        "onsale": onsale_on(event_id),
        "max_per_order": MAX_PER_ORDER,
        # A fresh key per rendered form: a double-click or a resubmitted POST buys once.
        "idempotency_key": uuid.uuid4().hex,
    }
    return render(request, "boxoffice/event_detail.html", context)


@require_POST
@login_required
def buy(request: HttpRequest, event_id: int) -> HttpResponse:
    try:
        quantity = validate_form_quantity(request.POST.get("quantity"))
        key = validate_idempotency_key(request.POST.get("idempotency_key"))
        check = admission_check(event_id, request.user, request.POST.get("admission"))
        order, created = place_order(request.user, event_id, quantity, key, admission=check)
    except AdmissionRequired as exc:
        messages.error(request, f"Your order was not placed: {exc.message}.")
        return redirect("waiting-page", event_id=event_id)
    except PurchaseError as exc:
        messages.error(request, f"Your order was not placed: {exc.message}.")
        return redirect("event-detail", event_id=event_id)
    if created:
        messages.success(request, f"Done: {order.quantity} ticket(s) for {order.event.title}.")
    else:
        messages.info(request, "That order was already placed; here it is.")
    return redirect("my-orders")


@require_safe
@login_required
def my_orders(request: HttpRequest) -> HttpResponse:
    context = page_context(request, lambda after, size: listing.orders_page(request.user, after, size))
    return render(request, "boxoffice/orders.html", context)
