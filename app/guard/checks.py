"""System checks of the production profile (``manage.py check``, and so every ``migrate``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

SMTP = "django.core.mail.backends.smtp.EmailBackend"


@register(Tags.security)
def production_sends_mail_by_smtp(app_configs: Any, **kwargs: Any) -> list[Error]:
    """The console backend writes password-reset links to the web logs: never in production."""
    if settings.TIERS_PROFILE != "production" or settings.EMAIL_BACKEND == SMTP:
        return []
    return [
        Error(
            f"EMAIL_BACKEND is {settings.EMAIL_BACKEND!r} in the production profile: mail (password "
            "resets, order confirmations) would land in logs or nowhere.",
            hint="Set EMAIL_BACKEND=smtp and EMAIL_HOST (the topology's [email] host).",
            id="guard.E001",
        )
    ]
