"""HTML pages: browse events, an event with its buy form, my orders (login/logout: Django's auth views)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from boxoffice import caching
from boxoffice.admission import AdmissionRequired
from boxoffice.models import Order
from boxoffice.services import place_order
from boxoffice.validation import (
    MAX_PER_ORDER,
    PurchaseError,
    validate_form_quantity,
    validate_idempotency_key,
)
from boxoffice.waitingroom import admission_check, onsale_on


@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    return render(request, "boxoffice/event_list.html", {"events": caching.event_list()})


@require_GET
def event_detail(request: HttpRequest, event_id: int) -> HttpResponse:
    event = caching.event_detail(event_id)
    if event is None:
        raise Http404(f"no event {event_id}")
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


@require_GET
@login_required
def my_orders(request: HttpRequest) -> HttpResponse:
    orders = Order.objects.filter(user=request.user).select_related("event")
    return render(request, "boxoffice/orders.html", {"orders": orders})
