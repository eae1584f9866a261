"""/healthz (process alive, no I/O) and /readyz (dependencies; 503 when the node cannot serve reads)."""

from __future__ import annotations

import sys

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.cache import never_cache

from health.checks import readiness
from health.middleware import unavailable_response


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    ready, body = readiness()
    body["release"] = settings.TIERS_RELEASE
    return JsonResponse(body, status=200 if ready else 503)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        body = {"error": "not_found", "message": f"no such resource: {request.path}"}
        return JsonResponse(body, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database/S3 outage raised outside a view (e.g. in middleware) still gets the 503."""
    exc = sys.exc_info()[1]
    if exc is not None:
        response = unavailable_response(request, exc)
        if response is not None:
            return response
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "server_error", "message": "internal error"}, status=500)
    return defaults.server_error(request)
