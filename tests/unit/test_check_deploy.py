"""Django's own deployment checklist passes for the production profile, and the local profile is usable."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

from deploy.model.paths import REPO

EXAMPLE = REPO / "examples" / "boxoffice"


def _check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The example's manage.py under the Tiers layer, as an app node runs it (the integration on the path)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TIERS_", "DB_", "S3_"))}
    layer = {"DJANGO_SETTINGS_MODULE": "tiers_site.settings", "TIERS_APP_SETTINGS": "boxoffice_site.settings",
             "PYTHONPATH": str(REPO / "app")}  # fmt: skip
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=EXAMPLE, env={**clean, **layer, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_deploy_is_clean_for_production() -> None:
    out = _check(
        {
            "TIERS_PROFILE": "production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "shop.example.com",
            "EMAIL_BACKEND": "smtp",
            "EMAIL_HOST": "smtp.example.com",
        },
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_production_without_a_secret_key_refuses_to_start() -> None:
    out = _check({"TIERS_PROFILE": "production", "DJANGO_ALLOWED_HOSTS": "shop.example.com"})
    assert out.returncode != 0
    assert "DJANGO_SECRET_KEY" in out.stderr


def test_local_profile_checks_clean_with_no_environment() -> None:
    out = _check({})
    assert out.returncode == 0, out.stdout + out.stderr


def test_production_with_the_console_mail_backend_fails_its_checks() -> None:
    """Probe: `manage.py check` in the production profile as a node without an SMTP relay renders it."""
    out = _check(
        {
            "TIERS_PROFILE": "production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "shop.example.com",
            "EMAIL_BACKEND": "console",
        }
    )
    assert out.returncode != 0
    assert "guard.E001" in out.stderr and "console" in out.stderr
