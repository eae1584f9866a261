"""The box office's own settings, as any Django project has them.

This file knows nothing of the cluster: run alone (``manage.py runserver``) it uses SQLite and local files.
Deployed with Tiers, the integration's layer (``tiers_site.settings``) imports this module and then sets what
the cluster decides: databases and the router, caches, sessions, storages, hosts, proxy headers, logging,
e-mail (docs/APPS.md lists every key).
"""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Replaced by the cluster's own key when deployed; good for nothing else.
SECRET_KEY = "django-insecure-boxoffice-example-only"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Background tasks (ticket PDFs, image renditions, mail) on Django's tasks framework, queued in a table
    # and worked by `manage.py tasks_worker` on the worker nodes (tiers.toml `worker`).
    "django_tasks",
    "django_tasks_db",
    "boxoffice",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "boxoffice_site.urls"
WSGI_APPLICATION = "boxoffice_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "boxoffice.context.site",
            ]
        },
    }
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

SESSION_COOKIE_AGE = 14 * 24 * 3600
# Event images up to 5 MiB are read in memory; larger bodies are refused by the load balancer first.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "event-list"
LOGOUT_REDIRECT_URL = "event-list"
# The JSON API answers a CSRF failure in JSON, the HTML pages with Django's page.
CSRF_FAILURE_VIEW = "boxoffice.api.csrf_failure"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

STATIC_URL = "static/"
MEDIA_URL = "media/"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
