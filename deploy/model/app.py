"""A project's declaration: the ``[app]`` table of ``tiers.toml`` in the project's own repository.

The topology file says which machines run a cluster; ``tiers.toml`` says what they run: the project's
settings and WSGI modules, where its requirements are, its Python, the environment and secrets it expects,
its worker command, whether it has static files, the URL classes the load balancer prioritises and the
tables a restore drill compares. It carries no addresses and no secret values. Pure: parses and validates,
reads only the file it is given. ``python -m deploy init PATH`` writes one (deploy/commands/app_init.py).

File format::

    [app]
    name = "mysite"                        # default: the project folder's name
    settings = "mysite.settings"           # the project's own settings module (Tiers layers on top)
    wsgi = "mysite.wsgi:application"       # module:callable
    requirements = "requirements.txt"      # or "pyproject.toml" ([project] dependencies)
    python = "3.12"                        # major.minor; the release brings this interpreter
    worker = ""                            # the worker role's command ("" = no worker)
    static = true                          # collectstatic to the static bucket at each release
    keep = []                              # settings Tiers would set that the project keeps (docs/APPS.md)
    drill_tables = []                      # tables a restore drill compares ([] = every table of the app)

    [app.env]                              # non-secret variables passed through to every app node
    SITE_NAME = "My site"

    [app.secrets]                          # names only; values: `python -m deploy secret set NAME`
    names = ["STRIPE_API_KEY"]

    [app.urls]                             # path regexes the load balancer treats specially
    login = ["^/accounts/login/$"]         # POSTs wait behind page views and purchases (password hashing)
    checkout = []                          # POSTs go before logins, after page views
    waiting_room = []                      # served by the queue nodes (docs/ONSALE.md)
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE_NAME = "tiers.toml"
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")
DEFAULT_PYTHON = "3.11"
# The login forms Django ships (django.contrib.auth.urls and the admin's).
DEFAULT_LOGIN_URLS = (r"^/accounts/login/$", r"^/admin/login/$")

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_SETTING = re.compile(r"^[A-Z][A-Z0-9_]*$")
_TABLE = re.compile(r"^[a-z_][a-z0-9_]*$")
_APP_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
# Variables the cluster sets on every app node: a project may not pass or claim these (docs/SETTINGS.md).
RESERVED_PREFIXES = ("TIERS_", "DB_", "S3_", "CACHE_", "DJANGO_", "EMAIL_")
RESERVED_NAMES = frozenset(
    {"DEBUG_HEADERS", "MEDIA_URL", "STATIC_URL", "PRIVATE_MEDIA_URL", "LOG_LEVEL", "TRUSTED_PROXIES",
     "ADMIN_ALLOWED_NETWORKS", "DEFAULT_FROM_EMAIL", "PYTHONPATH", "PATH", "HOME", "LOGIN_FAILURES_PER_USERNAME",
     "LOGIN_FAILURES_PER_ADDRESS", "LOGIN_FAILURE_WINDOW_S"}
)  # fmt: skip
KEYS = ("name", "settings", "wsgi", "requirements", "python", "worker", "static", "keep", "drill_tables",
        "env", "secrets", "urls")  # fmt: skip
URL_CLASSES = ("login", "checkout", "waiting_room")


class AppError(ValueError):
    """A project's declaration is wrong or missing. The message names the file, the key and the fix."""


@dataclass(frozen=True)
class UrlClasses:
    login: tuple[str, ...] = DEFAULT_LOGIN_URLS
    checkout: tuple[str, ...] = ()
    waiting_room: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppSpec:
    """One project, as its ``tiers.toml`` declares it. ``source`` is the folder holding manage.py."""

    source: Path
    name: str
    settings: str
    wsgi: str
    requirements: str
    python: str = DEFAULT_PYTHON
    worker: str = ""
    static: bool = True
    keep: tuple[str, ...] = ()
    drill_tables: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict, hash=False)
    secrets: tuple[str, ...] = ()
    urls: UrlClasses = UrlClasses()

    @property
    def requirements_path(self) -> Path:
        return self.source / self.requirements

    def to_dict(self) -> dict[str, Any]:
        """The declaration as release.json records it (the source folder as a string)."""
        return {
            "source": str(self.source),
            "name": self.name,
            "settings": self.settings,
            "wsgi": self.wsgi,
            "requirements": self.requirements,
            "python": self.python,
            "worker": self.worker,
            "static": self.static,
            "keep": list(self.keep),
            "drill_tables": list(self.drill_tables),
            "env": dict(self.env),
            "secrets": list(self.secrets),
            "urls": {k: list(getattr(self.urls, k)) for k in URL_CLASSES},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AppSpec:
        urls = data.get("urls") or {}
        return cls(
            source=Path(data["source"]),
            name=data["name"],
            settings=data["settings"],
            wsgi=data["wsgi"],
            requirements=data["requirements"],
            python=data.get("python", DEFAULT_PYTHON),
            worker=data.get("worker", ""),
            static=bool(data.get("static", True)),
            keep=tuple(data.get("keep", ())),
            drill_tables=tuple(data.get("drill_tables", ())),
            env=dict(data.get("env", {})),
            secrets=tuple(data.get("secrets", ())),
            urls=UrlClasses(**{k: tuple(urls.get(k, getattr(UrlClasses(), k))) for k in URL_CLASSES}),
        )


def load(source: Path) -> AppSpec:
    """``source/tiers.toml`` parsed and checked; :class:`AppError` says what is wrong and how to fix it."""
    source = Path(source).resolve()
    if not source.is_dir():
        raise AppError(f"{source}: no such folder (APP= must name the folder of a Django project)")
    if not (source / "manage.py").is_file():
        raise AppError(
            f"{source}: no manage.py here. APP= names the folder that holds the project's manage.py "
            f"(the one `django-admin startproject` made)"
        )
    path = source / FILE_NAME
    if not path.is_file():
        raise AppError(f"{path}: missing. Write it with `python -m deploy init {source}` (make up APP= does)")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AppError(f"{path}: not valid TOML: {exc}") from None
    return parse(source, data, str(path))


def parse(source: Path, data: dict[str, Any], where: str) -> AppSpec:
    """The ``[app]`` table of an already-read file (``where`` names it in errors)."""
    app = data.get("app")
    if not isinstance(app, dict):
        raise AppError(f"{where}: no [app] table (see docs/APPS.md for the keys)")
    unknown = sorted(set(app) - set(KEYS))
    if unknown:
        raise AppError(f"{where}: [app] unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")

    def text(key: str, default: str | None = None) -> str:
        value = app.get(key, default)
        if value is None:
            raise AppError(f"{where}: [app] {key} is required (see docs/APPS.md)")
        if not isinstance(value, str):
            raise AppError(f"{where}: [app] {key} must be a string, got {value!r}")
        return value.strip()

    def names(key: str, value: Any, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AppError(f"{where}: [app] {key} must be a list of strings, got {value!r}")
        bad = [v for v in value if not pattern.match(v)]
        if bad:
            raise AppError(f"{where}: [app] {key}: {', '.join(map(repr, bad))} is not {what}")
        return tuple(value)

    name = text("name", source.name.lower().replace(" ", "-") or "app")
    if not _APP_NAME.match(name):
        raise AppError(
            f"{where}: [app] name {name!r}: lowercase letters, digits, - and _ (<= 40), a letter first"
        )
    settings = text("settings")
    if not _DOTTED.match(settings):
        raise AppError(f"{where}: [app] settings {settings!r} is not a dotted module name (mysite.settings)")
    wsgi = text("wsgi")
    module, colon, attr = wsgi.partition(":")
    if not _DOTTED.match(module) or (colon and not attr.isidentifier()):
        raise AppError(f"{where}: [app] wsgi {wsgi!r} is not module:callable (mysite.wsgi:application)")
    requirements = text("requirements")
    req_path = (source / requirements).resolve()
    if not requirements or not req_path.is_file():
        raise AppError(
            f"{where}: [app] requirements {requirements!r}: no such file in {source} "
            f"(a requirements file or the project's pyproject.toml)"
        )
    if not req_path.is_relative_to(source.resolve()):  # source may be relative or hold a symlink
        raise AppError(f"{where}: [app] requirements {requirements!r} must lie inside the project folder")
    python = text("python", DEFAULT_PYTHON)
    if python not in SUPPORTED_PYTHONS:
        raise AppError(
            f"{where}: [app] python {python!r}: Tiers builds releases for Python {', '.join(SUPPORTED_PYTHONS)}"
        )
    worker = text("worker", "")
    static = app.get("static", True)
    if not isinstance(static, bool):
        raise AppError(f"{where}: [app] static must be true or false, got {static!r}")
    keep = names("keep", app.get("keep", []), _SETTING, "an upper-case Django setting name")
    tables = names("drill_tables", app.get("drill_tables", []), _TABLE, "a plain lower-case table name")

    env = app.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise AppError(f'{where}: [app.env] holds NAME = "value" strings, got {env!r}')
    for var, value in env.items():
        # uWSGI expands %(...) and $(...) in its ini's env lines, and a newline would end one.
        if "%" in value or "$(" in value or "\n" in value:
            raise AppError(
                f"{where}: [app.env] {var}: a value may not hold %, $( or a newline (uWSGI would expand it)"
            )
    secrets_table = app.get("secrets", {})
    if not isinstance(secrets_table, dict) or set(secrets_table) - {"names"}:
        raise AppError(f'{where}: [app.secrets] has one key, names = ["NAME", ...]')
    secrets = names("secrets.names", secrets_table.get("names", []), ENV_NAME, "an environment variable name")
    for var in [*env, *secrets]:
        if not ENV_NAME.match(var):
            raise AppError(f"{where}: [app.env] {var!r} is not an environment variable name (A-Z, 0-9, _)")
        if var in RESERVED_NAMES or var.startswith(RESERVED_PREFIXES):
            raise AppError(
                f"{where}: {var!r} is set by the cluster on every app node (docs/SETTINGS.md); "
                f"rename the project's variable"
            )
    both = sorted(set(env) & set(secrets))
    if both:
        raise AppError(f"{where}: {', '.join(both)} is both in [app.env] and a secret: choose one")

    urls_table = app.get("urls", {})
    if not isinstance(urls_table, dict) or set(urls_table) - set(URL_CLASSES):
        raise AppError(f"{where}: [app.urls] keys are {', '.join(URL_CLASSES)}")
    classes = {}
    for key in URL_CLASSES:
        value = urls_table.get(key, list(getattr(UrlClasses(), key)))
        if not isinstance(value, list) or not all(isinstance(v, str) and v.startswith("^/") for v in value):
            raise AppError(f"{where}: [app.urls] {key} must be a list of path regexes starting with ^/")
        for regex in value:
            try:
                re.compile(regex)
            except re.error as exc:
                raise AppError(f"{where}: [app.urls] {key}: {regex!r} is not a regex: {exc}") from None
            if any(c in regex for c in " \"'{}"):
                raise AppError(f"{where}: [app.urls] {key}: {regex!r} may not hold spaces, quotes or braces")
        classes[key] = tuple(value)

    return AppSpec(
        source=source,
        name=name,
        settings=settings,
        wsgi=f"{module}:{attr or 'application'}",
        requirements=requirements,
        python=python,
        worker=worker,
        static=static,
        keep=keep,
        drill_tables=tables,
        env=dict(env),
        secrets=secrets,
        urls=UrlClasses(**classes),
    )
