"""Settings built from the environment: a pure function, so it can be tested without Django set up.

``settings.py`` is just ``globals().update(build(os.environ))``. Every variable read here is listed in
docs/SETTINGS.md with its local default and its production value. The environment contract of a node is
rendered by deploy/render/django_env.py; this module never imports ``deploy/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from guard.client import Network, parse_networks

PROFILES = ("local", "production")

# Only ever used by the local profile; production refuses it (and any key shorter than 50 chars).
INSECURE_LOCAL_SECRET_KEY = "django-insecure-local-only-tiers-key-never-use-this-in-production-0123456789"

LOCAL_DEFAULTS: dict[str, str] = {
    "TIERS_PROFILE": "local",
    "TIERS_CLUSTER": "local",
    "TIERS_NODE_NAME": "dev",
    # The release (deploy/commands/releases.py version) this node runs: X-Release header, /readyz body.
    "TIERS_RELEASE": "",
    "DJANGO_SECRET_KEY": "",
    "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]",
    # The site's origins as browsers send them (https://name[:port]): CSRF checks of cross-port forms.
    "DJANGO_CSRF_TRUSTED_ORIGINS": "",
    "DJANGO_DEBUG": "0",
    "DEBUG_HEADERS": "1",
    "DB_NAME": "tiers",
    "DB_USER": "tiers",
    "DB_PASSWORD": "",
    "DB_PRIMARY_HOST": "127.0.2.10",
    "DB_PRIMARY_PORT": "5432",
    "DB_READ_NODES": "",
    "DB_MAX_LAG_BYTES": "1048576",
    "DB_MAX_LAG_SECONDS": "5.0",
    "DB_CONNECT_TIMEOUT": "2",
    "DB_CONN_MAX_AGE": "60",
    "DB_POOLED": "0",
    "CACHE_NODES": "",
    "S3_ENDPOINT_URL": "http://127.0.4.1:8333",
    "S3_REGION": "us-east-1",
    "S3_ADDRESSING_STYLE": "path",
    "S3_ACCESS_KEY_ID": "",
    "S3_SECRET_ACCESS_KEY": "",
    "S3_MEDIA_BUCKET": "tiers-media",
    "S3_STATIC_BUCKET": "tiers-static",
    "S3_PRIVATE_BUCKET": "tiers-private",
    "MEDIA_URL": "http://127.0.4.2:8080/media/",
    "STATIC_URL": "http://127.0.4.2:8080/static/",
    "PRIVATE_MEDIA_URL": "http://127.0.4.2:8080/private/",
    "LOG_LEVEL": "INFO",
    # Addresses whose X-Forwarded-For is believed (the load balancer's); everyone else is REMOTE_ADDR.
    "TRUSTED_PROXIES": "",
    # Who may reach /admin/ (client addresses as the LB reports them).
    "ADMIN_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
    "LOGIN_FAILURES_PER_USERNAME": "10",
    "LOGIN_FAILURES_PER_ADDRESS": "30",
    "LOGIN_FAILURE_WINDOW_S": "60",
    "EMAIL_BACKEND": "console",
    "EMAIL_HOST": "",
    "EMAIL_PORT": "587",
    "EMAIL_HOST_USER": "",
    "EMAIL_HOST_PASSWORD": "",
    "EMAIL_USE_TLS": "1",
    "DEFAULT_FROM_EMAIL": "tickets@tiers.invalid",
}

EMAIL_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
}


def parse_bool(name: str, value: str) -> bool:
    """'1/true/yes/on' or '0/false/no/off/' (any case); anything else is an error naming the variable."""
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: expected 1/0, true/false, yes/no or on/off")


def parse_int(name: str, value: str, minimum: int = 0) -> int:
    try:
        n = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: expected an integer") from None
    if n < minimum:
        raise ImproperlyConfigured(f"{name}={value!r}: must be >= {minimum}")
    return n


def parse_float(name: str, value: str) -> float:
    try:
        x = float(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: expected a number") from None
    if x < 0:
        raise ImproperlyConfigured(f"{name}={value!r}: must be >= 0")
    return x


def parse_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_endpoint(name: str, value: str) -> tuple[str, int]:
    """'host:port' -> (host, port); IPv6 hosts in brackets ('[::1]:5432')."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ImproperlyConfigured(f"{name}: {value!r} is not host:port")
    return host.strip("[]"), int(port)


def parse_read_nodes(value: str) -> list[tuple[str, str, int, str]]:
    """DB_READ_NODES 'db1=127.0.2.1:5432,db2=...' -> [(name, host, port, dbname), ...] in the given order.

    An item may name its database ('db2=127.0.2.11:6432/tiers_db2': that node's pool on a PgBouncer);
    dbname is "" when it does not (DB_NAME then)."""
    nodes: list[tuple[str, str, int, str]] = []
    for item in parse_list(value):
        name, sep, target = item.partition("=")
        name = name.strip()
        endpoint, _slash, dbname = target.partition("/")
        if not sep or not name.isidentifier() or (_slash and not dbname.strip().isidentifier()):
            raise ImproperlyConfigured(
                f"DB_READ_NODES: {item!r} is not name=host:port or name=host:port/dbname"
            )
        if name == "default" or name in {n[0] for n in nodes}:
            raise ImproperlyConfigured(f"DB_READ_NODES: node name {name!r} is reserved or repeated")
        host, port = parse_endpoint("DB_READ_NODES", endpoint)
        nodes.append((name, host, port, dbname.strip()))
    return nodes


def url_domain(name: str, url: str) -> tuple[str, str]:
    """MEDIA_URL/STATIC_URL -> (url_protocol, custom_domain) for django-storages, whose URLs are
    ``{protocol}//{custom_domain}/{key}``; the URL's path becomes part of the "domain"."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or not url.endswith("/"):
        raise ImproperlyConfigured(f"{name}={url!r}: expected an absolute http(s) URL ending with '/'")
    return f"{parts.scheme}:", (parts.netloc + parts.path).rstrip("/")


def database(
    env: Mapping[str, str],
    host: str,
    port: int,
    node: str,
    mirror: bool,
    connect_timeout: int,
    engine: str,
    dbname: str = "",
) -> dict[str, Any]:
    return {
        "ENGINE": engine,
        "NAME": dbname or env["DB_NAME"],
        "USER": env["DB_USER"],
        "PASSWORD": env["DB_PASSWORD"],
        "HOST": host,
        "PORT": str(port),
        # Reuse connections for a minute, but test them first: after a failover a pooled
        # connection to the old primary must not serve the next request.
        "CONN_MAX_AGE": parse_int("DB_CONN_MAX_AGE", env["DB_CONN_MAX_AGE"]),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            # libpq's minimum is 2 s; a dead node must fail fast so the router can go elsewhere.
            "connect_timeout": connect_timeout,
            "application_name": f"tiers-{node}",
            # Notice a peer that vanished (kill -9, lost host) within ~15 s instead of hours.
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
        },
        "TEST": {"MIRROR": "default"} if mirror else {},
        # Through PgBouncer's transaction pooling a named cursor would outlive the transaction's server
        # connection: Django then fetches with plain cursors (iterator() reads the whole result at once).
        "DISABLE_SERVER_SIDE_CURSORS": parse_bool("DB_POOLED", env["DB_POOLED"]),
    }


def memcached_options() -> dict[str, Any]:
    """pymemcache HashClient options: a dead node is a miss, never an error."""
    return {
        "ignore_exc": True,  # errors become misses (get -> None, set -> False)
        "retry_attempts": 1,  # a failed node gets one retry (after retry_timeout) before leaving the ring
        "retry_timeout": 1,  # seconds before that retry: a dead node is out of the ring in ~1 s
        "dead_timeout": 10,  # then retried after 10 s
        "connect_timeout": 0.25,  # loopback/LAN: anything slower is a dead node
        "timeout": 0.5,
        "use_pooling": True,  # one socket per thread instead of a shared locked one
        "max_pool_size": 16,
    }


def caches(env: Mapping[str, str]) -> dict[str, Any]:
    nodes = parse_list(env["CACHE_NODES"])
    for endpoint in nodes:
        parse_endpoint("CACHE_NODES", endpoint)
    prefix = f"tiers-{env['TIERS_CLUSTER']}"
    if not nodes:
        # No memcached configured (e.g. `manage.py check` on a laptop): per-process memory.
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "KEY_PREFIX": prefix}}
    return {
        "default": {
            "BACKEND": "tiers_site.cache.PersistentPyMemcacheCache",
            "LOCATION": nodes,
            "KEY_PREFIX": prefix,
            "TIMEOUT": 300,
            "OPTIONS": memcached_options(),
        }
    }


def storages(env: Mapping[str, str]) -> dict[str, Any]:
    common = {
        "endpoint_url": env["S3_ENDPOINT_URL"] or None,
        "region_name": env["S3_REGION"],
        "addressing_style": env["S3_ADDRESSING_STYLE"],
        "access_key": env["S3_ACCESS_KEY_ID"] or None,
        "secret_key": env["S3_SECRET_ACCESS_KEY"] or None,
        "signature_version": "s3v4",
        "querystring_auth": False,  # public URLs on the media host, not signed S3 URLs
        "file_overwrite": False,  # two uploads named alike never clobber each other
        "default_acl": None,
    }
    media_protocol, media_domain = url_domain("MEDIA_URL", env["MEDIA_URL"])
    static_protocol, static_domain = url_domain("STATIC_URL", env["STATIC_URL"])
    url_domain("PRIVATE_MEDIA_URL", env["PRIVATE_MEDIA_URL"])  # validated here, used by PrivateStorage
    return {
        "default": {
            "BACKEND": "tiers_site.storage.MediaStorage",
            "OPTIONS": {
                **common,
                "bucket_name": env["S3_MEDIA_BUCKET"],
                "custom_domain": media_domain,
                "url_protocol": media_protocol,
            },
        },
        "staticfiles": {
            "BACKEND": "tiers_site.storage.StaticStorage",
            "OPTIONS": {
                **common,
                "bucket_name": env["S3_STATIC_BUCKET"],
                "custom_domain": static_domain,
                "url_protocol": static_protocol,
                "file_overwrite": True,  # collectstatic replaces the manifest on each release
                # Hashed names never change content: let the media host and browsers keep them a year.
                "object_parameters": {"CacheControl": "public, max-age=31536000, immutable"},
            },
        },
        # Ticket PDFs and original uploads: no anonymous read; URLs are presigned for a few minutes and
        # handed out through the media host's /private/ location (tiers_site.storage.PrivateStorage).
        "private": {
            "BACKEND": "tiers_site.storage.PrivateStorage",
            "OPTIONS": {
                **common,
                "bucket_name": env["S3_PRIVATE_BUCKET"],
                "querystring_auth": True,
                "querystring_expire": 120,
                "public_url": env["PRIVATE_MEDIA_URL"],
            },
        },
    }


def networks(name: str, value: str) -> tuple[Network, ...]:
    try:
        return parse_networks(name, value)
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None


def email(env: Mapping[str, str]) -> dict[str, Any]:
    """EMAIL_* settings: the console backend (local) or SMTP; production refuses the console
    (guard.checks, a system check error)."""
    kind = env["EMAIL_BACKEND"].strip().lower()
    if kind not in EMAIL_BACKENDS:
        raise ImproperlyConfigured(f"EMAIL_BACKEND={kind!r}: expected one of {', '.join(EMAIL_BACKENDS)}")
    if kind == "smtp" and not env["EMAIL_HOST"].strip():
        raise ImproperlyConfigured("EMAIL_BACKEND=smtp needs EMAIL_HOST (the SMTP relay's host name)")
    return {
        "EMAIL_BACKEND": EMAIL_BACKENDS[kind],
        "EMAIL_HOST": env["EMAIL_HOST"].strip(),
        "EMAIL_PORT": parse_int("EMAIL_PORT", env["EMAIL_PORT"], minimum=1),
        "EMAIL_HOST_USER": env["EMAIL_HOST_USER"],
        "EMAIL_HOST_PASSWORD": env["EMAIL_HOST_PASSWORD"],
        "EMAIL_USE_TLS": parse_bool("EMAIL_USE_TLS", env["EMAIL_USE_TLS"]),
        "EMAIL_TIMEOUT": 10,
        "DEFAULT_FROM_EMAIL": env["DEFAULT_FROM_EMAIL"],
    }


def tasks() -> dict[str, Any]:
    """Django's tasks framework (django-tasks backport) on django-tasks-db: the queue is a table on the
    primary, worked by `manage.py tasks_worker` on the worker nodes (docs/MEDIA.md)."""
    return {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def logging_config(level: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "tiers_site.jsonlog.RequestContextFilter"}},
        "formatters": {"json": {"()": "tiers_site.jsonlog.JsonFormatter"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "filters": ["context"],
                "formatter": "json",
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "django": {"handlers": ["stdout"], "level": level, "propagate": False},
            # 4xx are logged by our own access line; Django's copy would be a duplicate.
            "django.request": {"handlers": ["stdout"], "level": "ERROR", "propagate": False},
            "django.server": {"handlers": ["stdout"], "level": level, "propagate": False},
        },
    }


# The integration's apps, added to the project's INSTALLED_APPS (each once). tiers_site brings the
# release_setup and tasks_worker commands; storages the S3 backends; django.contrib.postgres because the
# cluster's database is PostgreSQL (what a project written against SQLite lacks: Wagtail's search index
# needs its fields and lookups there).
INTEGRATION_APPS = ("django.contrib.postgres", "storages", "dbrouter", "health", "guard", "tiers_site")
AUTH_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
THROTTLED_BACKEND = "guard.backends.ThrottledModelBackend"
SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
AUTHENTICATION = "django.contrib.auth.middleware.AuthenticationMiddleware"
SECURITY = "django.middleware.security.SecurityMiddleware"

# The keys the layer sets that a project may keep as its own (tiers.toml `keep`, TIERS_KEEP_SETTINGS);
# docs/APPS.md says what each costs. The TIERS_*, DBROUTER and throttle keys are the integration's own.
OPTIONAL_KEYS = (
    "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "DATABASES", "DATABASE_ROUTERS",
    "CACHES", "SESSION_ENGINE", "STORAGES", "MEDIA_URL", "STATIC_URL", "LOGGING", "EMAIL",
    "INSTALLED_APPS", "MIDDLEWARE", "AUTHENTICATION_BACKENDS", "SECURE_PROXY_SSL_HEADER", "SECURE", "TASKS",
)  # fmt: skip
# Keys that several settings share an opt-out under (`keep = ["EMAIL"]` keeps every EMAIL_* of the project).
GROUPS = {
    "EMAIL": ("EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD",
              "EMAIL_USE_TLS", "EMAIL_TIMEOUT", "DEFAULT_FROM_EMAIL"),
    "SECURE": ("SECURE_SSL_REDIRECT", "SECURE_REDIRECT_EXEMPT", "SECURE_HSTS_SECONDS",
               "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE",
               "CSRF_COOKIE_SECURE"),
}  # fmt: skip


def cluster_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """What the cluster decides for one node, from its environment (the project's settings aside)."""
    env = {**LOCAL_DEFAULTS, **{k: v for k, v in environ.items() if k in LOCAL_DEFAULTS}}
    profile = env["TIERS_PROFILE"].strip()
    if profile not in PROFILES:
        raise ImproperlyConfigured(f"TIERS_PROFILE={profile!r}: expected one of {', '.join(PROFILES)}")
    production = profile == "production"
    debug = parse_bool("DJANGO_DEBUG", env["DJANGO_DEBUG"])
    secret_key = env["DJANGO_SECRET_KEY"]
    if production:
        if not secret_key or secret_key == INSECURE_LOCAL_SECRET_KEY:
            raise ImproperlyConfigured(
                "DJANGO_SECRET_KEY is not set: the production profile refuses to start without its own "
                "secret key (at least 50 random characters)"
            )
        if len(secret_key) < 50 or len(set(secret_key)) < 5:
            raise ImproperlyConfigured("DJANGO_SECRET_KEY is too weak: use at least 50 random characters")
        if debug:
            raise ImproperlyConfigured("DJANGO_DEBUG=1 is refused by the production profile")
    secret_key = secret_key or INSECURE_LOCAL_SECRET_KEY

    node = env["TIERS_NODE_NAME"].strip() or "dev"
    allowed_hosts = parse_list(env["DJANGO_ALLOWED_HOSTS"])
    if production and not allowed_hosts:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS is empty: production needs the site's host names")
    origins = parse_list(env["DJANGO_CSRF_TRUSTED_ORIGINS"])
    for origin in origins:
        if urlsplit(origin).scheme not in ("http", "https") or not urlsplit(origin).netloc:
            raise ImproperlyConfigured(f"DJANGO_CSRF_TRUSTED_ORIGINS: {origin!r} is not scheme://host[:port]")

    connect_timeout = parse_int("DB_CONNECT_TIMEOUT", env["DB_CONNECT_TIMEOUT"], minimum=1)
    primary_host = env["DB_PRIMARY_HOST"]
    primary_port = parse_int("DB_PRIMARY_PORT", env["DB_PRIMARY_PORT"], minimum=1)
    read_nodes = parse_read_nodes(env["DB_READ_NODES"])
    # dbrouter's engine is Django's PostgreSQL backend plus "retry this read elsewhere" on a dead replica.
    engine = "dbrouter.backends.postgresql"
    databases = {"default": database(env, primary_host, primary_port, node, False, connect_timeout, engine)}
    for name, host, port, dbname in read_nodes:
        databases[name] = database(env, host, port, node, True, connect_timeout, engine, dbname)

    settings: dict[str, Any] = {
        "TIERS_PROFILE": profile,
        "TIERS_CLUSTER": env["TIERS_CLUSTER"],
        "TIERS_NODE_NAME": node,
        "TIERS_RELEASE": env["TIERS_RELEASE"].strip() or "dev",
        "SECRET_KEY": secret_key,
        "DEBUG": debug,
        "DEBUG_HEADERS": parse_bool("DEBUG_HEADERS", env["DEBUG_HEADERS"]),
        "ALLOWED_HOSTS": allowed_hosts,
        "CSRF_TRUSTED_ORIGINS": origins,
        "DATABASES": databases,
        "DATABASE_ROUTERS": ["dbrouter.router.ReplicaRouter"],
        "DBROUTER": {
            "READ_ALIASES": [n[0] for n in read_nodes],
            "MAX_LAG_BYTES": parse_int("DB_MAX_LAG_BYTES", env["DB_MAX_LAG_BYTES"]),
            "MAX_LAG_SECONDS": parse_float("DB_MAX_LAG_SECONDS", env["DB_MAX_LAG_SECONDS"]),
            "LSN_CACHE_SECONDS": 0.05,
            "DOWN_SECONDS": 5.0,
            "CONNECT_TIMEOUT": connect_timeout,
            # The task queue is claimed with SELECT ... FOR UPDATE and polled by workers: primary only.
            "PRIMARY_MODELS": ["django_tasks_db.dbtaskresult"],
        },
        "CACHES": caches(env),
        # Sessions are written to the DB and read from memcached first: a lost cache node costs a query,
        # not a logout. The cache holds signed JSON under a hash of the session key (tiers_site.sessions).
        "SESSION_ENGINE": "tiers_site.sessions",
        "LOGIN_THROTTLE": {
            "per_username": parse_int("LOGIN_FAILURES_PER_USERNAME", env["LOGIN_FAILURES_PER_USERNAME"], 1),
            "per_address": parse_int("LOGIN_FAILURES_PER_ADDRESS", env["LOGIN_FAILURES_PER_ADDRESS"], 1),
            "window": parse_int("LOGIN_FAILURE_WINDOW_S", env["LOGIN_FAILURE_WINDOW_S"], 1),
        },
        "TRUSTED_PROXIES": networks("TRUSTED_PROXIES", env["TRUSTED_PROXIES"]),
        "ADMIN_ALLOWED_NETWORKS": networks("ADMIN_ALLOWED_NETWORKS", env["ADMIN_ALLOWED_NETWORKS"]),
        "STORAGES": storages(env),
        **email(env),
        "MEDIA_URL": env["MEDIA_URL"],
        "STATIC_URL": env["STATIC_URL"],
        "LOGGING": logging_config(env["LOG_LEVEL"].upper()),
        # TLS ends at the load balancer, which drops a client's X-Forwarded-Proto and sets its own (both
        # profiles: locally the site answers HTTPS on the LB too). Web nodes take traffic from the LB only.
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    }
    if production:
        settings.update(
            {
                "SECURE_SSL_REDIRECT": True,
                # The LB's health checks speak plain HTTP to the node: never redirect them.
                "SECURE_REDIRECT_EXEMPT": [r"^healthz$", r"^readyz$"],
                "SECURE_HSTS_SECONDS": 31536000,
                "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
                "SECURE_HSTS_PRELOAD": True,
                "SESSION_COOKIE_SECURE": True,
                "CSRF_COOKIE_SECURE": True,
            }
        )
    return settings


def with_integration_middleware(middleware: list[str]) -> list[str]:
    """The project's MIDDLEWARE with the integration's in the places it needs (each once)."""
    ours = {
        "health.middleware.RequestContextMiddleware", "health.endpoints.HealthEndpointsMiddleware",
        "guard.middleware.AdminAllowlistMiddleware", "dbrouter.middleware.RoutingMiddleware",
        "guard.middleware.LoginThrottleMiddleware", "health.middleware.ReadOnlyMiddleware",
    }  # fmt: skip
    out = [m for m in middleware if m not in ours]

    def after(anchor: str, name: str, fallback: int) -> None:
        out.insert(out.index(anchor) + 1 if anchor in out else fallback, name)

    # Before sessions: a refused /admin/ request costs no session or database work.
    out.insert(out.index(SESSIONS) if SESSIONS in out else 0, "guard.middleware.AdminAllowlistMiddleware")
    # After the session and the user are known: read-your-writes needs the session's last commit LSN.
    after(
        AUTHENTICATION if AUTHENTICATION in out else SESSIONS,
        "dbrouter.middleware.RoutingMiddleware",
        len(out),
    )
    # A throttled login (raised inside authenticate()) -> 429 with Retry-After.
    out.append("guard.middleware.LoginThrottleMiddleware")
    # Last, so its process_exception sees view exceptions first: primary down -> read-only 503.
    out.append("health.middleware.ReadOnlyMiddleware")
    # First, so every response (redirects and errors included) carries X-Request-ID/X-Served-By; then the
    # LB's probes, answered before any other middleware (no session, host or database work).
    return ["health.middleware.RequestContextMiddleware", "health.endpoints.HealthEndpointsMiddleware", *out]


def parse_keep(value: str) -> frozenset[str]:
    keep = frozenset(parse_list(value))
    unknown = sorted(keep - set(OPTIONAL_KEYS))
    if unknown:
        raise ImproperlyConfigured(
            f"TIERS_KEEP_SETTINGS (tiers.toml keep): {', '.join(unknown)} is not a setting the Tiers layer sets; "
            f"it keeps one of: {', '.join(OPTIONAL_KEYS)}"
        )
    return keep


def layer(project: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The project's settings with the cluster's on top: what a Tiers app node runs.

    ``project`` holds the project's own upper-case settings. Every key in :data:`OPTIONAL_KEYS` that the
    project lists in ``TIERS_KEEP_SETTINGS`` stays the project's; the rest is the cluster's.
    """
    keep = parse_keep(environ.get("TIERS_KEEP_SETTINGS", ""))
    cluster = cluster_settings(environ)
    kept = {k for group in keep for k in GROUPS.get(group, (group,))}
    out = dict(project)
    out.update({k: v for k, v in cluster.items() if k not in kept})
    installed = list(project.get("INSTALLED_APPS", []))
    if "INSTALLED_APPS" not in keep:
        out["INSTALLED_APPS"] = [*installed, *(a for a in INTEGRATION_APPS if a not in installed)]
    if "MIDDLEWARE" not in keep:
        out["MIDDLEWARE"] = with_integration_middleware(list(project.get("MIDDLEWARE", [])))
    if "AUTHENTICATION_BACKENDS" not in keep:
        # Every login goes through the throttle (guard.throttle), per username and per client address.
        backends = list(project.get("AUTHENTICATION_BACKENDS", [AUTH_MODEL_BACKEND]))
        out["AUTHENTICATION_BACKENDS"] = [
            THROTTLED_BACKEND if b == AUTH_MODEL_BACKEND else b for b in backends
        ]
    if "TASKS" not in keep and "django_tasks_db" in installed:
        out["TASKS"] = tasks()
    if "DEBUG" in keep and cluster["TIERS_PROFILE"] == "production" and project.get("DEBUG"):
        raise ImproperlyConfigured('keep = ["DEBUG"] with DEBUG = True is refused by the production profile')
    return out
