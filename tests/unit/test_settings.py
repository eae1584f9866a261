"""tiers_site.config: what the cluster decides from a node's environment (cluster_settings) and how it is
layered onto a project's own settings (layer). Pure, no Django setup."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from deploy.model.paths import StatePaths
from deploy.model.secrets import Secrets
from deploy.render.django_env import web_environment
from deploy.roles import loads
from tests.unit.fixtures import fake_release
from tiers_site import config
from tiers_site.config import cluster_settings as build
from tiers_site.config import layer

REPO = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 30 + "abcdefghij0123456789"  # 50 chars, more than 5 distinct


def prod_env(**extra: str) -> dict[str, str]:
    return {
        "TIERS_PROFILE": "production",
        "DJANGO_SECRET_KEY": GOOD_KEY,
        "DJANGO_ALLOWED_HOSTS": "shop.example.com",
        **extra,
    }


def test_no_environment_gives_a_working_local_profile() -> None:
    s = build({})
    assert s["TIERS_PROFILE"] == "local"
    assert s["DEBUG"] is False
    assert s["SECRET_KEY"] == config.INSECURE_LOCAL_SECRET_KEY
    assert s["DEBUG_HEADERS"] is True
    assert s["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "[::1]"]
    assert list(s["DATABASES"]) == ["default"]
    assert s["DATABASES"]["default"]["HOST"] == "127.0.2.10"
    assert s["DBROUTER"]["READ_ALIASES"] == []
    assert s["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert s["SESSION_ENGINE"] == "tiers_site.sessions"
    assert s["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert "SECURE_SSL_REDIRECT" not in s


def test_unknown_variables_are_ignored_and_known_ones_override_defaults() -> None:
    s = build({"HOME": "/root", "DB_NAME": "shop", "TIERS_NODE_NAME": "web7"})
    assert s["DATABASES"]["default"]["NAME"] == "shop"
    assert s["TIERS_NODE_NAME"] == "web7"
    assert s["DATABASES"]["default"]["OPTIONS"]["application_name"] == "tiers-web7"


def test_read_nodes_become_aliases_mirroring_the_primary_in_tests() -> None:
    s = build(
        {"DB_READ_NODES": "db1=127.0.2.1:5432, db2=127.0.2.2:5433", "DB_PRIMARY_HOST": "10.0.0.5"},
    )
    assert list(s["DATABASES"]) == ["default", "db1", "db2"]
    assert s["DATABASES"]["db2"]["HOST"] == "127.0.2.2"
    assert s["DATABASES"]["db2"]["PORT"] == "5433"
    assert s["DATABASES"]["db1"]["TEST"] == {"MIRROR": "default"}
    assert s["DATABASES"]["default"]["TEST"] == {}
    assert s["DATABASES"]["default"]["HOST"] == "10.0.0.5"
    assert s["DBROUTER"]["READ_ALIASES"] == ["db1", "db2"]


def test_pooled_read_nodes_name_their_pool_and_disable_server_side_cursors() -> None:
    env = {"DB_READ_NODES": "db1=127.0.2.11:6432/tiers_db1,db2=127.0.2.11:6432/tiers_db2", "DB_POOLED": "1"}
    s = build(env)
    assert [(a, d["HOST"], d["PORT"], d["NAME"]) for a, d in s["DATABASES"].items()] == [
        ("default", "127.0.2.10", "5432", "tiers"),
        ("db1", "127.0.2.11", "6432", "tiers_db1"),
        ("db2", "127.0.2.11", "6432", "tiers_db2"),
    ]
    assert all(d["DISABLE_SERVER_SIDE_CURSORS"] for d in s["DATABASES"].values())
    assert build({})["DATABASES"]["default"]["DISABLE_SERVER_SIDE_CURSORS"] is False
    with pytest.raises(ImproperlyConfigured, match="name=host:port/dbname"):
        build({"DB_READ_NODES": "db1=127.0.2.11:6432/"})


def test_database_connections_fail_fast_and_are_health_checked() -> None:
    db = build({})["DATABASES"]["default"]
    assert db["OPTIONS"]["connect_timeout"] == 2
    assert db["CONN_HEALTH_CHECKS"] is True
    assert 0 < db["CONN_MAX_AGE"] <= 300


@pytest.mark.parametrize(
    "value",
    ["db1", "db1=127.0.2.1", "db1=127.0.2.1:x", "db1=127.0.2.1:70000", "default=1.2.3.4:5432", "a=h:1,a=h:2"],
)
def test_bad_read_nodes_name_the_variable(value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="DB_READ_NODES"):
        build({"DB_READ_NODES": value})


def test_router_settings_come_from_the_lag_variables() -> None:
    s = build({"DB_MAX_LAG_BYTES": "2048", "DB_MAX_LAG_SECONDS": "1.5"})
    assert s["DBROUTER"]["MAX_LAG_BYTES"] == 2048
    assert s["DBROUTER"]["MAX_LAG_SECONDS"] == 1.5
    assert s["DBROUTER"]["CONNECT_TIMEOUT"] == 2
    with pytest.raises(ImproperlyConfigured, match="DB_MAX_LAG_BYTES"):
        build({"DB_MAX_LAG_BYTES": "lots"})


def example_settings() -> dict[str, Any]:
    """The box office's own settings module, as tiers_site.settings reads it (its upper-case names)."""
    module = importlib.import_module("boxoffice_site.settings")
    return {k: getattr(module, k) for k in dir(module) if k.isupper()}


MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]


def test_dbrouter_is_always_wired() -> None:
    with_router = layer(example_settings(), {"DB_READ_NODES": "db2=h:5432"})
    assert "dbrouter" in with_router["INSTALLED_APPS"]
    assert with_router["DATABASE_ROUTERS"] == ["dbrouter.router.ReplicaRouter"]
    assert {d["ENGINE"] for d in with_router["DATABASES"].values()} == {"dbrouter.backends.postgresql"}
    mw = with_router["MIDDLEWARE"]
    # After Session + Authentication (it reads the user), before the read-only fallback.
    assert (
        mw.index("django.contrib.auth.middleware.AuthenticationMiddleware")
        < mw.index("dbrouter.middleware.RoutingMiddleware")
        < mw.index("health.middleware.ReadOnlyMiddleware")
    )
    assert mw[0] == "health.middleware.RequestContextMiddleware"


def test_layer_keeps_the_projects_own_settings_and_sets_the_clusters() -> None:
    project = example_settings()
    s = layer(project, {"TIERS_NODE_NAME": "web3"})
    # The project's own: its URLconf, templates, apps, auth and upload limits stay as they are.
    for key in ("ROOT_URLCONF", "TEMPLATES", "LOGIN_URL", "CSRF_FAILURE_VIEW", "FILE_UPLOAD_MAX_MEMORY_SIZE"):
        assert s[key] == project[key]
    assert s["INSTALLED_APPS"][: len(project["INSTALLED_APPS"])] == project["INSTALLED_APPS"]
    # The cluster's: its database, key, sessions, storages (the project's SQLite and insecure key are gone).
    assert s["DATABASES"]["default"]["ENGINE"] == "dbrouter.backends.postgresql"
    assert s["SECRET_KEY"] == config.INSECURE_LOCAL_SECRET_KEY != project["SECRET_KEY"]
    assert s["SESSION_ENGINE"] == "tiers_site.sessions"
    assert s["STORAGES"]["default"]["BACKEND"] == "tiers_site.storage.MediaStorage"
    assert s["TIERS_NODE_NAME"] == "web3"
    # The project installs django_tasks_db: its tasks run on the integration's backend.
    assert s["TASKS"] == config.tasks()
    assert "TASKS" not in layer({"INSTALLED_APPS": ["django.contrib.auth"]}, {})
    assert project == example_settings()  # the project's dict is not changed in place


def test_layer_orders_the_middleware() -> None:
    mw = layer({"MIDDLEWARE": MIDDLEWARE}, {})["MIDDLEWARE"]
    assert mw[:2] == [
        "health.middleware.RequestContextMiddleware",
        "health.endpoints.HealthEndpointsMiddleware",
    ]
    assert mw.index("guard.middleware.AdminAllowlistMiddleware") + 1 == mw.index(config.SESSIONS)
    assert mw.index("dbrouter.middleware.RoutingMiddleware") == mw.index(config.AUTHENTICATION) + 1
    assert mw.index("guard.middleware.LoginThrottleMiddleware") < len(mw) - 1
    assert mw[-1] == "health.middleware.ReadOnlyMiddleware"
    # The project's own keep their order, each once.
    assert [m for m in mw if m in MIDDLEWARE] == MIDDLEWARE
    assert len(mw) == len(set(mw)) == len(MIDDLEWARE) + 6


def test_layer_adds_the_integrations_middleware_once_and_without_sessions() -> None:
    # A project that already lists some of ours (in other places) gets each once, where the layer puts it.
    listed = [
        "health.middleware.ReadOnlyMiddleware",
        *MIDDLEWARE,
        "health.endpoints.HealthEndpointsMiddleware",
    ]
    assert (
        layer({"MIDDLEWARE": listed}, {})["MIDDLEWARE"] == layer({"MIDDLEWARE": MIDDLEWARE}, {})["MIDDLEWARE"]
    )
    # No sessions or authentication at all (an API-only project): the allowlist and the router still run.
    bare = layer({"MIDDLEWARE": ["django.middleware.common.CommonMiddleware"]}, {})["MIDDLEWARE"]
    assert bare == [
        "health.middleware.RequestContextMiddleware",
        "health.endpoints.HealthEndpointsMiddleware",
        "guard.middleware.AdminAllowlistMiddleware",
        "django.middleware.common.CommonMiddleware",
        "dbrouter.middleware.RoutingMiddleware",
        "guard.middleware.LoginThrottleMiddleware",
        "health.middleware.ReadOnlyMiddleware",
    ]


def test_layer_appends_the_integration_apps_once() -> None:
    project = ["django.contrib.auth", "guard", "myapp"]
    apps = layer({"INSTALLED_APPS": project}, {})["INSTALLED_APPS"]
    assert apps[:3] == project
    assert sorted(apps[3:]) == sorted(set(config.INTEGRATION_APPS) - {"guard"})
    assert len(apps) == len(set(apps))
    assert layer({}, {})["INSTALLED_APPS"] == list(config.INTEGRATION_APPS)


def test_layer_throttles_the_model_backend() -> None:
    assert layer({}, {})["AUTHENTICATION_BACKENDS"] == [config.THROTTLED_BACKEND]
    backends = ["myapp.auth.TokenBackend", config.AUTH_MODEL_BACKEND]
    assert layer({"AUTHENTICATION_BACKENDS": backends}, {})["AUTHENTICATION_BACKENDS"] == [
        "myapp.auth.TokenBackend",
        config.THROTTLED_BACKEND,
    ]


def test_kept_settings_stay_the_projects() -> None:
    project = {**example_settings(), "CACHES": {"default": {"BACKEND": "myapp.cache.Backend"}}}
    assert (
        layer(project, {})["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    )
    kept = layer(project, {"TIERS_KEEP_SETTINGS": "CACHES"})
    assert kept["CACHES"] == {"default": {"BACKEND": "myapp.cache.Backend"}}
    assert (
        kept["DATABASES"]["default"]["ENGINE"] == "dbrouter.backends.postgresql"
    )  # the rest is the cluster's
    # A group keeps every setting under it; a kept MIDDLEWARE is the project's list as it is.
    email = layer({"EMAIL_HOST": "smtp.example.com"}, {"TIERS_KEEP_SETTINGS": "EMAIL, MIDDLEWARE"})
    assert email["EMAIL_HOST"] == "smtp.example.com" and "EMAIL_BACKEND" not in email
    assert "MIDDLEWARE" not in email
    # The layer needs no keep at all to leave what it does not set.
    assert layer({"MY_SETTING": 1}, {})["MY_SETTING"] == 1


def test_an_unknown_kept_setting_names_the_allowed_ones() -> None:
    with pytest.raises(
        ImproperlyConfigured, match=r"TIERS_KEEP_SETTINGS.*CACHEZ.*SECRET_KEY, DEBUG, ALLOWED_HOSTS"
    ):
        layer({}, {"TIERS_KEEP_SETTINGS": "CACHEZ"})


def test_production_refuses_a_kept_debug() -> None:
    env = {**prod_env(), "TIERS_KEEP_SETTINGS": "DEBUG"}
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        layer({"DEBUG": True}, env)
    assert layer({"DEBUG": False}, env)["DEBUG"] is False


def test_cache_nodes_use_pymemcache_with_dead_nodes_as_misses() -> None:
    cache = build({"CACHE_NODES": "127.0.3.1:11211,127.0.3.2:11211"})["CACHES"]["default"]
    assert cache["BACKEND"] == "tiers_site.cache.PersistentPyMemcacheCache"
    assert cache["LOCATION"] == ["127.0.3.1:11211", "127.0.3.2:11211"]
    assert cache["KEY_PREFIX"] == "tiers-local"
    options = cache["OPTIONS"]
    assert options["ignore_exc"] is True
    assert options["use_pooling"] is True
    assert options["connect_timeout"] <= 0.5
    assert options["timeout"] <= 1
    assert options["dead_timeout"] > 0


def test_bad_cache_node_is_rejected() -> None:
    with pytest.raises(ImproperlyConfigured, match="CACHE_NODES"):
        build({"CACHE_NODES": "127.0.3.1"})


def test_storages_point_urls_at_the_media_host() -> None:
    s = build(
        {
            "S3_ENDPOINT_URL": "http://127.0.4.1:8333",
            "S3_MEDIA_BUCKET": "m",
            "S3_STATIC_BUCKET": "st",
            "S3_ACCESS_KEY_ID": "AK",
            "S3_SECRET_ACCESS_KEY": "SK",
            "MEDIA_URL": "https://media.example.com/media/",
            "STATIC_URL": "https://media.example.com/static/",
        },
    )
    media = s["STORAGES"]["default"]
    static = s["STORAGES"]["staticfiles"]
    assert media["BACKEND"] == "tiers_site.storage.MediaStorage"
    assert static["BACKEND"] == "tiers_site.storage.StaticStorage"
    assert media["OPTIONS"]["bucket_name"] == "m"
    assert static["OPTIONS"]["bucket_name"] == "st"
    assert media["OPTIONS"]["custom_domain"] == "media.example.com/media"
    assert static["OPTIONS"]["custom_domain"] == "media.example.com/static"
    assert media["OPTIONS"]["url_protocol"] == "https:"
    assert media["OPTIONS"]["file_overwrite"] is False
    assert media["OPTIONS"]["querystring_auth"] is False
    assert media["OPTIONS"]["endpoint_url"] == "http://127.0.4.1:8333"
    assert media["OPTIONS"]["access_key"] == "AK"
    assert s["MEDIA_URL"] == "https://media.example.com/media/"


def test_empty_s3_endpoint_means_the_aws_default() -> None:
    s = build({"S3_ENDPOINT_URL": ""})
    assert s["STORAGES"]["default"]["OPTIONS"]["endpoint_url"] is None


@pytest.mark.parametrize("url", ["media.example.com/media/", "http://h/media", "ftp://h/media/"])
def test_bad_media_url_is_rejected(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="MEDIA_URL"):
        build({"MEDIA_URL": url})


def test_production_profile_is_locked_down() -> None:
    s = build(prod_env())
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert s["SECURE_HSTS_SECONDS"] >= 31536000
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert s["SESSION_COOKIE_SECURE"] is True
    assert s["CSRF_COOKIE_SECURE"] is True
    assert s["SECRET_KEY"] == GOOD_KEY
    # The load balancer's plain-HTTP health checks are never redirected.
    assert s["SECURE_REDIRECT_EXEMPT"] == [r"^healthz$", r"^readyz$"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY is not set"),
        ({"DJANGO_SECRET_KEY": config.INSECURE_LOCAL_SECRET_KEY}, "DJANGO_SECRET_KEY is not set"),
        ({"DJANGO_SECRET_KEY": "short-key"}, "too weak"),
        ({"DJANGO_SECRET_KEY": "a" * 60}, "too weak"),
        ({"DJANGO_DEBUG": "1"}, "DJANGO_DEBUG"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_unsafe_values(extra: dict[str, str], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        build(prod_env(**extra))


@pytest.mark.parametrize(("name", "value"), [("TIERS_PROFILE", "staging"), ("DJANGO_DEBUG", "maybe")])
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=name):
        build({name: value})


def test_every_rendered_variable_is_understood() -> None:
    """The env contract (deploy/render/django_env.py) and the settings agree: nothing rendered is unknown."""
    topo = loads((REPO / "deploy/topologies/local.toml").read_text())
    env = web_environment(
        topo,
        topo.by_role("web")[0],
        StatePaths(root=Path("/state"), repo=Path("/repo")),
        Secrets.fixed_for_tests(),
    )
    # Read by Django itself / deliberately unused (logs go to stdout, captured by the process manager).
    not_read_here = {"DJANGO_SETTINGS_MODULE", "TIERS_LOG_DIR"}
    assert set(env) - not_read_here <= set(config.LOCAL_DEFAULTS)
    s = build(env)
    assert s["TIERS_NODE_NAME"] == "web1"
    assert s["DBROUTER"]["READ_ALIASES"] == ["db1", "db2", "db3"]
    # Through the pooler: its primary pool (dbproxy behind it) and one pool per DB node.
    assert (s["DATABASES"]["default"]["HOST"], s["DATABASES"]["default"]["PORT"]) == ("127.0.2.11", "6432")
    assert s["DATABASES"]["db2"]["NAME"] == "tiers_db2"
    assert s["DATABASES"]["db2"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert s["CACHES"]["default"]["LOCATION"] == ["127.0.3.1:11211", "127.0.3.2:11211"]
    assert s["STORAGES"]["default"]["OPTIONS"]["custom_domain"] == "127.0.4.2:8080/media"
    # The site's origin as browsers send it: the LB's HTTPS port (8443 locally).
    assert s["CSRF_TRUSTED_ORIGINS"] == ["https://127.0.0.1:8443"]


# Read by the integration's settings module and layer() (not cluster settings: no local default).
LAYER_VARIABLES = ("TIERS_APP_SETTINGS", "TIERS_KEEP_SETTINGS")


def test_a_releases_environment_adds_the_projects_settings_and_variables() -> None:
    topo = loads((REPO / "deploy/topologies/local.toml").read_text())
    paths = StatePaths(root=Path("/state"), repo=Path("/repo"))
    release = fake_release("v7", Path("/state/releases"))
    base = web_environment(topo, topo.by_role("web")[0], paths, Secrets.fixed_for_tests())
    env = web_environment(topo, topo.by_role("web")[0], paths, Secrets.fixed_for_tests(), release)
    assert {k: env[k] for k in base} == base  # the cluster's part as without a release
    assert {k: v for k, v in env.items() if k not in base} == {
        "TIERS_APP_SETTINGS": "shop.settings",
        "TIERS_KEEP_SETTINGS": "",
        "TIERS_RELEASE": "v7",
        "PYTHONPATH": "/state/releases/v7/tiers",
        "SITE_NAME": "Shop",
        "APP_TOKEN": "test-token",
    }
    # What the cluster renders is understood by the layer (the project's own variables are its business).
    assert set(env) - set(release.spec.env) - set(release.spec.secrets) - {
        "PYTHONPATH",
        "DJANGO_SETTINGS_MODULE",
        "TIERS_LOG_DIR",
    } <= {
        *config.LOCAL_DEFAULTS,
        *LAYER_VARIABLES,
    }
    assert layer({}, env)["TIERS_RELEASE"] == "v7"


@pytest.mark.parametrize(
    ("https_port", "public_host", "origin"),
    [(8443, "", "https://127.0.0.1:8443"), (443, "shop.example.com", "https://shop.example.com")],
)
def test_csrf_trusted_origins_are_the_sites_https_origin(
    https_port: int, public_host: str, origin: str
) -> None:
    text = (REPO / "deploy/topologies/local.toml").read_text()
    lb = f'https_port = {https_port}\npublic_host = "{public_host}"'
    topo = loads(text.replace("https_port = 8443", lb, 1))  # the lb's, first in the file
    paths = StatePaths(root=Path("/state"), repo=Path("/repo"))
    env = web_environment(topo, topo.by_role("web")[0], paths, Secrets.fixed_for_tests())
    assert env["DJANGO_CSRF_TRUSTED_ORIGINS"] == origin
    assert build(env)["CSRF_TRUSTED_ORIGINS"] == [origin]


def test_bad_csrf_trusted_origin_names_the_variable() -> None:
    with pytest.raises(ImproperlyConfigured, match="DJANGO_CSRF_TRUSTED_ORIGINS"):
        build({"DJANGO_CSRF_TRUSTED_ORIGINS": "shop.example.com"})


def test_documented_variables_match_the_settings() -> None:
    doc = (REPO / "docs/SETTINGS.md").read_text()
    for name in [*config.LOCAL_DEFAULTS, *LAYER_VARIABLES]:
        assert f"`{name}`" in doc, f"{name} is not documented in docs/SETTINGS.md"
