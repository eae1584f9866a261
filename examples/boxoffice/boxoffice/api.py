"""The JSON API (BRIEF section 4): session auth + CSRF, exactly as Django does it.

Every error is ``{"error": <code>, "message": <text>[, "field": <name>]}`` with a 4xx/5xx status.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import authenticate, login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.views import csrf as django_csrf
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from boxoffice import caching, listing
from boxoffice.cursors import page_size
from boxoffice.services import order_json, place_order
from boxoffice.validation import (
    InvalidInput,
    PurchaseError,
    validate_idempotency_key,
    validate_quantity,
)
from boxoffice.waitingroom import admission_check
from guard.origin import login_refusal

View = Callable[..., HttpResponse]


def error(status: int, code: str, message: str, field: str | None = None, **extra: Any) -> JsonResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if field:
        body["field"] = field
    body.update(extra)
    return JsonResponse(body, status=status)


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object, or InvalidInput naming what is wrong with it."""
    try:
        data = json.loads(request.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput("body", f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("body", "the body must be a JSON object")
    return data


def api(*methods: str, auth: bool = False) -> Callable[[View], View]:
    """Method check (405 JSON), optional login check (401 JSON) and PurchaseError -> JSON."""

    # HEAD wherever GET is served (uptime checkers ask with HEAD); the server sends the headers only.
    allowed = (*methods, "HEAD") if "GET" in methods else methods

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in allowed:
                response = error(405, "method_not_allowed", f"use {' or '.join(methods)}")
                response["Allow"] = ", ".join(allowed)
                return response
            if auth and not request.user.is_authenticated:
                return error(401, "not_authenticated", "log in first: POST /api/login")
            try:
                return view(request, *args, **kwargs)
            except PurchaseError as exc:
                return error(exc.status, exc.code, exc.message, exc.field, **exc.extra)

        return wrapper

    return decorate


# No CSRF token exists before logging in (the response hands one out), so instead of the token the view
# refuses what a cross-site page could send: a foreign Origin and any body but JSON (guard.origin).
@csrf_exempt
@never_cache
@api("POST")
def login_view(request: HttpRequest) -> HttpResponse:
    refusal = login_refusal(
        request.content_type or "",
        request.headers.get("Origin"),
        request.headers.get("Sec-Fetch-Site"),
        f"{request.scheme}://{request.get_host()}",
        settings.CSRF_TRUSTED_ORIGINS,
    )
    if refusal is not None:
        return error(*refusal)
    data = json_body(request)
    for field in ("username", "password"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise InvalidInput(field, f"{field} is required (a non-empty string)")
    user = authenticate(request, username=data["username"], password=data["password"])
    if user is None:
        return error(401, "invalid_credentials", "wrong username or password")
    login(request, user)
    return JsonResponse({"username": user.get_username(), "csrf_token": get_token(request)})


def paged(request: HttpRequest, name: str, items: list[Any], cursor: str | None) -> JsonResponse:
    """A page of a list: its items, and the cursor and link of the next page (None on the last)."""
    size = request.GET.get("limit")
    link = f"{request.path}?{urlencode({'cursor': cursor, **({'limit': size} if size else {})})}"
    return JsonResponse({name: items, "next_cursor": cursor, "next": link if cursor else None})


@api("GET")
def events_view(request: HttpRequest) -> HttpResponse:
    events, cursor = listing.events_page(request.GET.get("cursor"), page_size(request.GET.get("limit")))
    return paged(request, "events", events, cursor)


@api("GET")
def event_view(request: HttpRequest, event_id: int) -> HttpResponse:
    event = caching.event_detail(event_id)
    if event is None:
        return error(404, "not_found", f"no event {event_id}")
    return JsonResponse(event)


@never_cache
@api("POST", auth=True)
def create_order_view(request: HttpRequest, event_id: int) -> HttpResponse:
    key = validate_idempotency_key(request.headers.get("Idempotency-Key"))
    data = json_body(request)
    if "quantity" not in data:
        raise InvalidInput("quantity", "quantity is required")
    quantity = validate_quantity(data["quantity"])
    check = admission_check(event_id, request.user, request.headers.get("Admission-Token"))
    order, created = place_order(request.user, event_id, quantity, key, admission=check)
    response = JsonResponse(order_json(order), status=201)
    if not created:
        response["Idempotent-Replayed"] = "true"
    return response


@never_cache
@api("GET", auth=True)
def orders_view(request: HttpRequest) -> HttpResponse:
    size = page_size(request.GET.get("limit"))
    orders, cursor = listing.orders_page(request.user, request.GET.get("cursor"), size)
    return paged(request, "orders", [order_json(o) for o in orders], cursor)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON under /api/, Django's own page elsewhere."""
    if request.path.startswith("/api/"):
        return error(
            403,
            "csrf_failed",
            f"CSRF check failed ({reason}): send the csrftoken cookie and an X-CSRFToken header "
            "with the csrf_token returned by POST /api/login",
        )
    return django_csrf.csrf_failure(request, reason)
