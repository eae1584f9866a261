"""Request context (X-Request-ID, X-Served-By, X-Release, one JSON access line) and the read-only fallback."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

from tiers_site.jsonlog import request_id_var

log = logging.getLogger("tiers.request")

# Ids from HAProxy are hex; accept any short token-like value, never anything that could forge a log line.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
_QUIET_PATHS = ("/healthz", "/readyz")  # the LB polls these every second: logged at DEBUG only
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID if it is a sane token, else a fresh one."""
    if header and _VALID_REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = request_id_from(request.headers.get("X-Request-ID"))
        request.request_id = rid  # type: ignore[attr-defined]
        token = request_id_var.set(rid)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = rid
            if settings.DEBUG_HEADERS:
                # Local profile only (production keeps its topology to itself): which node and release
                # answered, so a rolling deploy's tests and operators see the switch per node.
                response["X-Served-By"] = settings.TIERS_NODE_NAME
                response["X-Release"] = settings.TIERS_RELEASE
                # The scheme Django believes the client used (the LB's X-Forwarded-Proto), for tests.
                response["X-Scheme"] = request.scheme
            level = logging.DEBUG if request.path in _QUIET_PATHS else logging.INFO
            log.log(
                level,
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
            return response
        finally:
            request_id_var.reset(token)


def database_unavailable(exc: BaseException) -> bool:
    """A connection-level database failure (primary/replica unreachable), not a bad query."""
    from django.db import utils

    if isinstance(exc, utils.OperationalError | utils.InterfaceError):
        return True
    # A bare DatabaseError (no subclass): libpq's "error with status PGRES_TUPLES_OK and no message" and
    # kin, raised when the server vanishes in the middle of a query. Constraint, data and SQL errors are
    # always subclasses, so they still surface as the bugs they are.
    if type(exc) is utils.DatabaseError:
        return True
    try:
        import psycopg2
        import psycopg2.errors
    except ImportError:  # pragma: no cover - psycopg2 is a dependency
        return False
    # 25006 read_only_sql_transaction: the "primary" answered as a standby (a primary restarting, a
    # switchover, a leader that demoted itself). It stays reachable through dbproxy until dbproxy's check
    # notices (~2 s): the write was refused, nothing saved; for the client the primary is away right now.
    cause = exc if isinstance(exc, psycopg2.Error) else exc.__cause__
    return (
        isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError)
        or type(exc) is psycopg2.DatabaseError
        or isinstance(cause, psycopg2.errors.ReadOnlySqlTransaction)
    )


def storage_unavailable(exc: BaseException) -> bool:
    """The object store refused or did not answer (uploads, collectstatic)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, BotoCoreError | ClientError)


def unavailable_response(request: HttpRequest, exc: BaseException) -> HttpResponse | None:
    """The 503 for a dependency failure, or None when the exception is something else."""
    if database_unavailable(exc):
        if request.method in SAFE_METHODS:
            code = "database_unavailable"
            message = "The database is unreachable right now. Please try again in a few seconds."
        else:
            code = "read_only"
            message = (
                "The site is read-only right now: the primary database is unreachable. "
                "Nothing was saved; please try again in a few seconds."
            )
    elif storage_unavailable(exc):
        code = "storage_unavailable"
        message = "The media store is unreachable right now, so the upload failed. Nothing was saved."
    else:
        return None
    log.warning("%s: %s: %s", code, type(exc).__name__, exc, extra={"error": code})
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"error": code, "message": message}, status=503)
    else:
        # Standalone template: it must render without the database (no user, no session lookups).
        html = loader.render_to_string("health/unavailable.html", {"code": code, "message": message})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = "5"
    response["Cache-Control"] = "no-store"
    return response


class ReadOnlyMiddleware:
    """Turns 'primary unreachable' into a clear 503 (JSON under /api/, a page elsewhere).

    Writes run inside transaction.atomic(), so a failure leaves nothing half-written.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return unavailable_response(request, exception)
