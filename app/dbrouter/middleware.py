"""RoutingMiddleware: one routing context per request, read-your-writes via a signed cookie, X-DB-Reads.

Place it after SessionMiddleware and AuthenticationMiddleware.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from . import runtime
from .context import capture_primary_lsn, close_substituted, enter, finish, leave, new_context
from .lsn import format_lsn, parse_lsn

COOKIE_SALT = "dbrouter.lsn"


def cookie_lsn(raw: str | None) -> int | None:
    """The LSN carried by a (signature-checked) cookie value; None if absent or malformed."""
    if not raw:
        return None
    try:
        return parse_lsn(raw)
    except ValueError:
        return None


def newer_lsn(carried: int | None, committed: int | None) -> int | None:
    """The LSN to store after a request: never move a user's requirement backwards."""
    values = [v for v in (carried, committed) if v is not None]
    return max(values) if values else None


def reads_header(served: list[str]) -> str:
    return ",".join(served) if served else "none"


class RoutingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cfg = runtime.get_config()
        carried = cookie_lsn(
            request.get_signed_cookie(
                cfg.lsn_cookie_name, default=None, salt=COOKIE_SALT, max_age=cfg.lsn_cookie_max_age
            )
        )
        ctx = new_context(carried, runtime.next_rotation())
        token = enter(ctx)
        try:
            response = self.get_response(request)
            finish(ctx, capture_primary_lsn)
            close_substituted(ctx)
        finally:
            leave(token)
        if ctx.commit_lsn is not None:
            self._set_cookie(response, format_lsn(newer_lsn(carried, ctx.commit_lsn) or ctx.commit_lsn))
        if getattr(settings, "DEBUG_HEADERS", False):
            response["X-DB-Reads"] = reads_header(ctx.served_reads())
        return response

    def _set_cookie(self, response: HttpResponse, value: str) -> None:
        cfg = runtime.get_config()
        kwargs: dict[str, Any] = {
            "salt": COOKIE_SALT,
            "max_age": cfg.lsn_cookie_max_age,
            "httponly": True,
            "samesite": "Lax",
            "secure": getattr(settings, "SESSION_COOKIE_SECURE", False),
        }
        response.set_signed_cookie(cfg.lsn_cookie_name, value, **kwargs)
