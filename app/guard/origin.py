"""The login endpoint's cross-site guard. Pure, no Django set up.

``POST /api/login`` has no CSRF token to check (there is none before logging in), so it refuses what a
cross-site page could send: a browser sends a cross-site POST without a preflight only as a form
(``text/plain``, ``application/x-www-form-urlencoded``, ``multipart/form-data``); ``application/json``
needs a CORS preflight, which this site never grants. A browser's ``Origin`` (or ``Sec-Fetch-Site``)
naming another site is refused too. Non-browser clients send no Origin and are judged by Content-Type.
"""

from __future__ import annotations

from collections.abc import Collection


def login_refusal(
    content_type: str, origin: str | None, fetch_site: str | None, own_origin: str, trusted: Collection[str]
) -> tuple[int, str, str] | None:
    """(status, code, message) when the request must be refused, else None."""
    if origin and origin != "null" and origin != own_origin and origin not in trusted:
        return 403, "cross_site_login", f"logins from {origin} are refused: log in from this site"
    if origin == "null" or (fetch_site or "").lower() == "cross-site":
        return 403, "cross_site_login", "cross-site logins are refused: log in from this site"
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        shown = media_type or "none"
        return 415, "unsupported_media_type", f"send the body as Content-Type: application/json (got {shown})"
    return None
