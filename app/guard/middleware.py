"""The admin allowlist, and the 429 answer of a throttled login."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from guard.backends import client_address
from guard.client import in_networks
from guard.throttle import LoginThrottled

log = logging.getLogger("tiers.guard")


class AdminAllowlistMiddleware:
    """``/admin/`` answers only clients in ADMIN_ALLOWED_NETWORKS; to anyone else it does not exist (404).

    Placed before the session middleware: a refused request costs no session or database work.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith("/admin") and not in_networks(
            client_address(request), settings.ADMIN_ALLOWED_NETWORKS
        ):
            return HttpResponse("Not Found", status=404, content_type="text/plain")
        return self.get_response(request)


class LoginThrottleMiddleware:
    """LoginThrottled (raised by guard.backends from any login view) -> 429 with Retry-After."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, LoginThrottled):
            return None
        return throttled_response(request, exception)


def throttled_response(request: HttpRequest, exc: LoginThrottled) -> HttpResponse:
    # The operator's view of an attack: which limit, from where (the username is not logged).
    log.warning(
        "login throttled (%s limit) for %s",
        exc.scope,
        client_address(request),
        extra={"error": "too_many_login_failures", "scope": exc.scope, "retry_after": exc.retry_after},
    )
    message = (
        f"Too many failed logins for this {exc.scope}. The password was not checked; "
        f"try again in {exc.retry_after} s."
    )
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"error": "too_many_login_failures", "message": message}, status=429)
    else:
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(exc.retry_after)
    response["Cache-Control"] = "no-store"
    return response
