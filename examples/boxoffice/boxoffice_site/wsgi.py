"""WSGI entry point (`wsgi = "boxoffice_site.wsgi:application"` in tiers.toml)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "boxoffice_site.settings")

application = get_wsgi_application()
