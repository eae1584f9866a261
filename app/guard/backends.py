"""The authentication backend: Django's ModelBackend behind the login throttle (guard.throttle).

Every login path (the JSON API, the login page, the admin's login) goes through ``authenticate()``,
so the throttle sits here once. It raises LoginThrottled out of ``authenticate()``;
guard.middleware turns that into a 429 with Retry-After.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.http import HttpRequest

from guard.client import address_from
from guard.throttle import Limits, admit


def client_address(request: HttpRequest) -> str:
    return address_from(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR"),
        settings.TRUSTED_PROXIES,
    )


class ThrottledModelBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if request is None or username is None:  # management commands, tests: nothing to throttle
            return super().authenticate(request, username, password, **kwargs)
        gate = admit(cache, Limits(**settings.LOGIN_THROTTLE), username, client_address(request), time.time())
        user = super().authenticate(request, username, password, **kwargs)
        if user is not None:
            gate.succeeded()
        return user
