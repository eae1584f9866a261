"""``python -m deploy init PATH``: write a project's ``tiers.toml`` from what its files say.

:func:`inspect` reads files only (manage.py, the settings modules, requirements, pyproject.toml,
.python-version) and never imports the project: it returns the ``[app]`` table and one line per
assumption it made, which :func:`render_toml` writes next to the key it concerns, for the user to check.
:func:`init` writes ``PATH/tiers.toml`` atomically, validated before it replaces anything.
The format is deploy/model/app.py's.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from ..model.app import (
    DEFAULT_LOGIN_URLS,
    DEFAULT_PYTHON,
    FILE_NAME,
    KEYS,
    SUPPORTED_PYTHONS,
    AppError,
    AppSpec,
    load,
    parse,
)

REQUIREMENTS_DIR_NAMES = ("production", "prod", "base")
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_VERSION = re.compile(r"^(\d+)\.(\d+)")
_ESCAPES = {"\\": "\\\\", '"': '\\"'}
_CLAUSE = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)\s*(\d+(?:\.\d+)*)(\.\*)?\s*$")


def inspect(
    source: Path,
    settings: str | None = None,
    wsgi: str | None = None,
    requirements: str | None = None,
    python: str | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The ``[app]`` table for the project in ``source`` and the assumptions behind it (reads files only)."""
    source = Path(source).resolve()
    manage = source / "manage.py"
    if not source.is_dir():
        raise AppError(
            f"{source}: no such folder (pass the folder of a Django project, the one with manage.py)"
        )
    if not manage.is_file():
        raise AppError(
            f"{source}: no manage.py here. Pass the folder that holds the project's manage.py "
            f"(the one `django-admin startproject` made)"
        )
    notes: list[str] = []
    name, why = _name(source)
    notes.append(f"name: {name} ({why})")

    if settings:
        notes.append(f"settings: {settings} (from --settings)")
    else:
        settings = _manage_settings(manage)
        notes.append(f"settings: {settings} (from manage.py's DJANGO_SETTINGS_MODULE default)")
    if not all(part.isidentifier() for part in settings.split(".")):
        raise AppError(f"settings {settings!r} is not a dotted module name: pass --settings mysite.settings")
    package = settings.split(".")[0]
    found, settings_files = _setting(source, settings, "WSGI_APPLICATION", set())
    if not settings_files:
        notes.append(
            f"settings: no file for {settings} under {source}; wsgi and static are guessed without it"
        )

    if wsgi:
        notes.append(f"wsgi: {wsgi} (from --wsgi)")
    elif found and found[0] and "." in found[0]:
        wsgi = ":".join(found[0].rsplit(".", 1))
        notes.append(f"wsgi: {wsgi} (WSGI_APPLICATION in {found[1].relative_to(source)})")
    elif (source / package / "wsgi.py").is_file():
        wsgi = f"{package}.wsgi:application"
        why = (
            f"WSGI_APPLICATION in {found[1].relative_to(source)} is no plain 'module.callable' string"
            if found
            else "no WSGI_APPLICATION in the settings"
        )
        notes.append(f"wsgi: {wsgi} ({package}/wsgi.py exists; {why})")
    else:
        raise AppError(
            f"{source}: no WSGI application found (no plain WSGI_APPLICATION string in {settings}, "
            f"no {package}/wsgi.py). Pass --wsgi module:callable"
        )

    if requirements:
        notes.append(f"requirements: {requirements} (from --requirements)")
    else:
        requirements, why = _requirements(source)
        notes.append(f"requirements: {requirements} ({why})")
    packages = _requirement_names(source / requirements)

    if python:
        python = _supported(python, "--python")
        notes.append(f"python: {python} (from --python)")
    else:
        python, why = _python(source)
        notes.append(f"python: {python} ({why})")

    if "celery" in packages:
        worker = f"celery -A {package} worker"
        notes.append(
            f"worker: {worker} (the requirements mention celery: check the app name and the options)"
        )
    elif "django-tasks" in packages:
        worker = "python manage.py tasks_worker"
        notes.append(f"worker: {worker} (the requirements mention django-tasks)")
    else:
        worker = ""
        notes.append("worker: none (the requirements mention neither celery nor django-tasks)")

    text = "\n".join(path.read_text(errors="replace") for path in settings_files)
    static = "STATIC_URL" in text or "django.contrib.staticfiles" in text
    notes.append(
        "static: true (the settings mention STATIC_URL or django.contrib.staticfiles; "
        "collectstatic runs at each release)"
        if static
        else "static: false (the settings mention neither STATIC_URL nor django.contrib.staticfiles)"
    )
    notes.append('env: none; add the project\'s non-secret variables as NAME = "value" under [app.env]')
    notes.append(
        "secrets: none; list the names under [app.secrets] names, "
        "set the values with `python -m deploy secret set NAME`"
    )
    notes.append(
        f"urls: login = Django's login forms ({', '.join(DEFAULT_LOGIN_URLS)}); "
        f"add the site's own login, checkout and waiting-room paths"
    )
    table: dict[str, Any] = {
        "name": name,
        "settings": settings,
        "wsgi": wsgi,
        "requirements": requirements,
        "python": python,
        "worker": worker,
        "static": static,
        "keep": [],
        "drill_tables": [],
        "env": {},
        "secrets": {"names": []},
        "urls": {"login": list(DEFAULT_LOGIN_URLS), "checkout": [], "waiting_room": []},
    }
    return table, notes


def render_toml(table: dict[str, Any], assumptions: list[str]) -> str:
    """``tiers.toml``'s text: every key explicit, each assumption as a comment above the key it concerns."""
    by_key: dict[str, list[str]] = {}
    header = [
        "# Tiers' declaration of this project (docs/APPS.md has every key), written by `python -m deploy init`",
        "# from the project's files. Check the assumptions in the comments, edit, and commit it with the project.",
    ]
    for line in assumptions:
        key = line.split(":", 1)[0]
        if key in KEYS:
            by_key.setdefault(key, []).append(f"# assumed {line}")
        else:
            header.append(f"# assumed {line}")
    lines = [*header, "[app]"]
    tables = []
    for key, value in table.items():
        if isinstance(value, dict):
            tables.append(key)
            continue
        lines += [*by_key.get(key, []), f"{key} = {_value(value)}"]
    for key in tables:
        lines += ["", *by_key.get(key, []), f"[app.{key}]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in table[key].items()]
    return "\n".join(lines) + "\n"


def init(source: Path, force: bool = False, **overrides: str | None) -> tuple[Path, AppSpec, list[str]]:
    """Write ``source/tiers.toml`` (refused if it exists, unless ``force``); its path, spec and assumptions."""
    source = Path(source).resolve()
    path = source / FILE_NAME
    if path.exists() and not force:
        raise AppError(f"{path} exists already: edit it, or pass --force to write a new one over it")
    table, assumptions = inspect(source, **overrides)
    text = render_toml(table, assumptions)
    parse(source, tomllib.loads(text), str(path))  # nothing invalid replaces anything
    try:
        with tempfile.NamedTemporaryFile("w", dir=source, prefix=f".{FILE_NAME}.", delete=False) as tmp:
            try:
                tmp.write(text)
                tmp.flush()
                os.fsync(tmp.fileno())
                os.chmod(tmp.name, 0o644)
                os.replace(tmp.name, path)
            except BaseException:
                os.unlink(tmp.name)
                raise
    except OSError as exc:
        raise AppError(f"{path}: cannot write it: {exc}") from None
    return path, load(source), assumptions


def cli_init(
    path: str,
    settings: str | None,
    wsgi: str | None,
    requirements: str | None,
    python: str | None,
    force: bool,
) -> int:
    """``python -m deploy init PATH``: 0 when written, 2 (and ``error: ...`` on stderr) when not."""
    try:
        written, _, assumptions = init(
            Path(path), force, settings=settings, wsgi=wsgi, requirements=requirements, python=python
        )
    except AppError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in assumptions:
        print(f"assuming: {line}")
    print(f"wrote {written}: check the assumptions in its comments, then commit it with the project")
    return 0


def _name(source: Path) -> tuple[str, str]:
    name = re.sub(r"[^a-z0-9_-]+", "-", source.name.lower()).strip("-_")
    name = re.sub(r"^[^a-z]+", "", name)[:40].rstrip("-_")
    return (name, "the project folder's name") if name else ("app", "the project folder's name is no name")


def _manage_settings(manage: Path) -> str:
    try:
        tree = ast.parse(manage.read_text(), str(manage))
    except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
        raise AppError(f"{manage}: cannot read it as Python ({exc}); pass --settings") from None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
        ):
            args = [_text(arg) for arg in node.args]
            if len(args) == 2 and args[0] == "DJANGO_SETTINGS_MODULE" and args[1]:
                return args[1]
    raise AppError(
        f'{manage}: no os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...) default; '
        f"pass --settings mysite.settings"
    )


def _text(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _module_file(source: Path, dotted: str) -> Path | None:
    base = source.joinpath(*dotted.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _setting(
    source: Path, module: str, name: str, seen: set[str]
) -> tuple[tuple[str | None, Path] | None, list[Path]]:
    """The value ``name`` is last assigned in ``module`` (following star-imports of project modules, in
    order) and the file assigning it: None if unset, (None, file) if not a plain string. And every file read."""
    path = _module_file(source, module)
    if path is None or module in seen:
        return None, []
    seen.add(module)
    try:
        tree = ast.parse(path.read_text(), str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return None, [path]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: tuple[str | None, Path] | None = None
    files = [path]
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and any(alias.name == "*" for alias in stmt.names):
            parts = package.split(".") if package else []
            if stmt.level - 1 >= len(parts):
                continue  # beyond the top-level package (or relative to no package)
            base = parts[: len(parts) - stmt.level + 1] if stmt.level else []
            target = ".".join([*base, stmt.module] if stmt.module else base)
            value, read = _setting(source, target, name, seen)
            files += read
            found = found if value is None else value
        elif isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found = (_text(stmt.value), path)
    return found, files


def _requirements(source: Path) -> tuple[str, str]:
    if (source / "requirements.txt").is_file():
        return "requirements.txt", "found in the project folder"
    pyproject = _pyproject(source).get("project", {})
    if isinstance(pyproject.get("dependencies"), list):
        return "pyproject.toml", "its [project] dependencies; no requirements.txt"
    for stem in REQUIREMENTS_DIR_NAMES:
        if (source / "requirements" / f"{stem}.txt").is_file():
            return (
                f"requirements/{stem}.txt",
                "no requirements.txt or [project] dependencies in pyproject.toml",
            )
    raise AppError(
        f"{source}: no requirements.txt, no [project] dependencies in pyproject.toml, no "
        f"requirements/{{{','.join(REQUIREMENTS_DIR_NAMES)}}}.txt. Write a requirements.txt listing Django "
        f"and what the project imports (or pass --requirements FILE)"
    )


def _pyproject(source: Path) -> dict[str, Any]:
    path = source / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AppError(f"{path}: not valid TOML: {exc}") from None


def _requirement_names(path: Path, seen: frozenset[Path] = frozenset()) -> set[str]:
    """The normalised distribution names a requirements file (with its -r includes) or pyproject lists."""
    if path.name == "pyproject.toml":
        deps = _pyproject(path.parent).get("project", {}).get("dependencies", [])
        lines = [d for d in deps if isinstance(d, str)]
    elif path.is_file() and path not in seen:
        lines = path.read_text(errors="replace").splitlines()
    else:
        return set()
    names: set[str] = set()
    for line in lines:
        line = line.split(" #", 1)[0].strip()
        include = re.match(r"^(?:-r|--requirement)[\s=]*(\S+)", line)
        if include:
            names |= _requirement_names(path.parent / include.group(1), seen | {path})
        elif match := _REQ_NAME.match(line):
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def _supported(version: str, where: str) -> str:
    match = _VERSION.match(version.strip())
    short = f"{match.group(1)}.{match.group(2)}" if match else version.strip()
    if short not in SUPPORTED_PYTHONS:
        raise AppError(
            f"{where}: Python {version.strip()!r}: Tiers builds releases for Python "
            f"{', '.join(SUPPORTED_PYTHONS)}; pass --python with one of them"
        )
    return short


def _python(source: Path) -> tuple[str, str]:
    path = source / ".python-version"
    if path.is_file():
        lines = [ln for ln in map(str.strip, path.read_text().splitlines()) if ln and not ln.startswith("#")]
        if lines:
            return _supported(lines[0], str(path)), f"from .python-version's {lines[0]}"
    spec = _pyproject(source).get("project", {}).get("requires-python")
    if isinstance(spec, str):
        for version in SUPPORTED_PYTHONS:
            if satisfies(version, spec):
                return version, f"the lowest supported Python pyproject's requires-python {spec!r} allows"
        raise AppError(
            f"{source / 'pyproject.toml'}: requires-python {spec!r} allows none of the Pythons Tiers builds "
            f"releases for ({', '.join(SUPPORTED_PYTHONS)}); pass --python with one of them"
        )
    return DEFAULT_PYTHON, "the default: no .python-version, no requires-python in pyproject.toml"


def satisfies(minor: str, spec: str) -> bool:
    """Whether some release of the ``3.x`` series ``minor`` meets a PEP 440 specifier such as ``>=3.11,<4``.

    The release brings a current patch release of its series, so a series counts if any of its patch
    releases would (``>=3.12.1`` and ``<3.12.5`` allow 3.12, ``<3.12`` and ``!=3.12.*`` do not).
    """
    have = tuple(int(p) for p in minor.split("."))
    for clause in spec.split(","):
        if not clause.strip():
            continue
        match = _CLAUSE.match(clause)
        if not match:
            raise AppError(f"requires-python {spec!r}: cannot read {clause.strip()!r}; pass --python")
        op, text, star = match.groups()
        want = tuple(int(p) for p in text.split("."))
        two = (*want, 0)[:2]
        if star or op == "~=":
            if op not in ("==", "!=", "~=") or (op == "~=" and (star or len(want) < 2)):
                raise AppError(f"requires-python {spec!r}: {clause.strip()!r} is not a valid specifier")
            prefix = want if star else want[:-1]
            n = min(len(prefix), 2)
            same = have[:n] == prefix[:n]
            # A prefix longer than major.minor (==3.12.1.*) matches part of the series only.
            ok = (same if op == "==" else not same or len(prefix) > 2) if star else same and have >= two
        elif op in (">=", ">"):
            ok = have >= two  # >3.12 allows 3.12.1
        elif op == "<":
            ok = have < two or (have == two and any(want[2:]))
        elif op == "<=":
            ok = have <= two
        elif op == "!=":
            ok = True  # another patch release of the series remains
        else:  # == and ===: the series the version lies in
            ok = have == two
        if not ok:
            return False
    return True


def _key(key: str) -> str:
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else _value(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = (
            _ESCAPES.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 32 or ord(c) == 127 else c) for c in value
        )
        return '"' + "".join(escaped) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"tiers.toml holds strings, booleans and lists of strings, not {value!r}")
