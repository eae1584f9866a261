"""``python -m deploy init``: tiers.toml inferred from a project's files (deploy/commands/app_init.py)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from deploy.commands.app_init import cli_init, init, inspect, render_toml, satisfies
from deploy.model.app import DEFAULT_LOGIN_URLS, FILE_NAME, AppError, parse

MANAGE = """import os, sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{settings}")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
"""


def startproject(root: Path, requirements: str = "Django>=5.2,<5.3\n") -> Path:
    """A project made by Django's own `django-admin startproject mysite`, with a requirements.txt."""
    source = root / "mysite"
    source.mkdir()
    django_admin = Path(sys.executable).parent / "django-admin"
    subprocess.run([str(django_admin), "startproject", "mysite", str(source)], check=True)
    (source / "requirements.txt").write_text(requirements)
    return source


def project(root: Path, files: dict[str, str], settings: str = "mysite.settings") -> Path:
    """A hand-built project: manage.py defaulting to ``settings``, plus ``files`` (path -> text)."""
    source = root / "proj"
    for name, text in {"manage.py": MANAGE.format(settings=settings), **files}.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    return source


SIMPLE = {
    "mysite/__init__.py": "",
    "mysite/settings.py": 'WSGI_APPLICATION = "mysite.wsgi.application"\n',
    "mysite/wsgi.py": "application = None\n",
}


def test_startproject_is_read_from_its_files(tmp_path: Path) -> None:
    source = startproject(tmp_path)
    table, notes = inspect(source)
    assert table == {
        "name": "mysite",
        "settings": "mysite.settings",
        "wsgi": "mysite.wsgi:application",
        "requirements": "requirements.txt",
        "python": "3.11",
        "worker": "",
        "static": True,
        "keep": [],
        "drill_tables": [],
        "env": {},
        "secrets": {"names": []},
        "urls": {"login": list(DEFAULT_LOGIN_URLS), "checkout": [], "waiting_room": []},
    }
    assert "settings: mysite.settings (from manage.py's DJANGO_SETTINGS_MODULE default)" in notes
    assert "wsgi: mysite.wsgi:application (WSGI_APPLICATION in mysite/settings.py)" in notes
    assert any(n.startswith("worker: none") for n in notes)
    assert any(n.startswith("env: none") for n in notes) and any("secret set" in n for n in notes)


def test_rendered_file_round_trips_through_parse(tmp_path: Path) -> None:
    source = startproject(tmp_path, "django\ncelery[redis]==5.4  # the worker\n")
    table, notes = inspect(source)
    assert table["worker"] == "celery -A mysite worker"
    text = render_toml(table, notes)
    assert tomllib.loads(text) == {"app": table}
    assert text.startswith("# ") and "\n# assumed worker: celery -A mysite worker" in text
    for key in ("name", "settings", "wsgi", "requirements", "python", "worker", "static", "keep"):
        assert f"\n{key} = " in text
    spec = parse(source, tomllib.loads(text), "tiers.toml")
    assert (spec.name, spec.settings, spec.wsgi, spec.worker) == (
        "mysite",
        "mysite.settings",
        "mysite.wsgi:application",
        "celery -A mysite worker",
    )
    assert spec.urls.login == DEFAULT_LOGIN_URLS and spec.static


def test_render_escapes_strings_toml_must_escape() -> None:
    table = {"name": "x", "worker": 'run --sep "\\t" \x01 ünï', "env": {"SITE_NAME": 'My "site"'}}
    assert tomllib.loads(render_toml(table, ["worker: odd"])) == {"app": table}


def test_init_writes_once_refuses_to_overwrite_and_keeps_the_old_file_on_error(tmp_path: Path) -> None:
    source = startproject(tmp_path)
    path, spec, notes = init(source)
    assert path == source / FILE_NAME and spec.wsgi == "mysite.wsgi:application" and notes
    assert path.stat().st_mode & 0o777 == 0o644
    before = path.read_text()
    with pytest.raises(AppError, match=r"exists already.*--force"):
        init(source)
    with pytest.raises(AppError, match=r"3\.11, 3\.12, 3\.13"):
        init(source, force=True, python="3.9")
    with pytest.raises(AppError, match=r"not module:callable"):
        init(source, force=True, wsgi="mysite.wsgi:")
    assert path.read_text() == before
    path2, spec2, _ = init(source, force=True, python="3.13")
    assert spec2.python == "3.13" and 'python = "3.13"' in path2.read_text()
    assert sorted(p.name for p in source.iterdir()) == ["manage.py", "mysite", "requirements.txt", FILE_NAME]


def test_invalid_result_writes_nothing(tmp_path: Path) -> None:
    source = startproject(tmp_path)
    with pytest.raises(AppError, match=r"no such file"):
        init(source, requirements="missing.txt")
    assert sorted(p.name for p in source.iterdir()) == ["manage.py", "mysite", "requirements.txt"]


def test_overrides_are_flagged(tmp_path: Path) -> None:
    source = project(tmp_path, {**SIMPLE, "reqs/prod.txt": "django\n", "other/settings.py": ""})
    table, notes = inspect(
        source, settings="other.settings", wsgi="other.app:wsgi", requirements="reqs/prod.txt", python="3.12"
    )
    assert [table[k] for k in ("settings", "wsgi", "requirements", "python", "static")] == [
        "other.settings",
        "other.app:wsgi",
        "reqs/prod.txt",
        "3.12",
        False,
    ]
    for flag in ("settings", "wsgi", "requirements", "python"):
        assert f"(from --{flag})" in "\n".join(notes)


def test_wagtail_layout_follows_star_imports(tmp_path: Path) -> None:
    source = project(
        tmp_path,
        {
            "requirements.txt": "wagtail\ndjango-tasks>=0.8\n",
            "mysite/__init__.py": "",
            "mysite/settings/__init__.py": "",
            "mysite/settings/base.py": "import os\nWSGI_APPLICATION = 'mysite.wsgi.application'\n"
            "STATIC_URL = '/static/'\n",
            "mysite/settings/dev.py": "from .base import *  # noqa\nDEBUG = True\n",
        },
        settings="mysite.settings.dev",
    )
    table, notes = inspect(source)
    assert (table["settings"], table["wsgi"], table["static"]) == (
        "mysite.settings.dev",
        "mysite.wsgi:application",
        True,
    )
    assert "wsgi: mysite.wsgi:application (WSGI_APPLICATION in mysite/settings/base.py)" in notes
    assert table["worker"] == "python manage.py tasks_worker"
    assert "worker: python manage.py tasks_worker (the requirements mention django-tasks)" in notes


def test_wsgi_not_a_plain_string_falls_back_to_the_package_wsgi_module(tmp_path: Path) -> None:
    source = project(
        tmp_path,
        {
            "requirements.txt": "django\n",
            "mysite/settings/__init__.py": "from mysite.settings.base import *\n"
            "WSGI_APPLICATION = os.environ['WSGI']\n",
            "mysite/settings/base.py": "WSGI_APPLICATION = 'mysite.wsgi.application'\n",
            "mysite/wsgi.py": "",
        },
    )
    table, notes = inspect(source)
    assert table["wsgi"] == "mysite.wsgi:application" and table["static"] is False
    assert any(
        "mysite/wsgi.py exists; WSGI_APPLICATION in mysite/settings/__init__.py is no plain 'module.callable' string"
        in n
        for n in notes
    )
    (source / "mysite/wsgi.py").unlink()
    with pytest.raises(AppError, match=r"no WSGI application found.*--wsgi"):
        inspect(source)


def test_pyproject_dependencies_and_requires_python(tmp_path: Path) -> None:
    pyproject = (
        '[project]\nname = "p"\nrequires-python = ">=3.12"\ndependencies = ["Django>=5.2", "Celery>=5"]\n'
    )
    source = project(tmp_path, {**SIMPLE, "pyproject.toml": pyproject})
    table, notes = inspect(source)
    assert (table["requirements"], table["python"], table["worker"]) == (
        "pyproject.toml",
        "3.12",
        "celery -A mysite worker",
    )
    assert any("requires-python '>=3.12'" in n for n in notes)
    (source / ".python-version").write_text("3.13.0\n")
    table, notes = inspect(source)
    assert table["python"] == "3.13" and "python: 3.13 (from .python-version's 3.13.0)" in notes
    (source / "pyproject.toml").write_text(pyproject.replace(">=3.12", ">=3.14"))
    (source / ".python-version").unlink()
    with pytest.raises(AppError, match=r"allows none of.*3\.11, 3\.12, 3\.13"):
        inspect(source)


def test_requirements_folder_with_includes(tmp_path: Path) -> None:
    source = project(
        tmp_path,
        {
            **SIMPLE,
            "requirements/production.txt": "-r base.txt\ngunicorn\n",
            "requirements/base.txt": "celery\n",
        },
    )
    table, _ = inspect(source)
    assert (table["requirements"], table["worker"]) == (
        "requirements/production.txt",
        "celery -A mysite worker",
    )


def test_no_manage_py_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(AppError, match=f"{tmp_path}: no manage.py here.*startproject"):
        inspect(tmp_path)
    with pytest.raises(AppError, match=r"no such folder"):
        inspect(tmp_path / "nowhere")


def test_no_requirements_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    source = project(tmp_path, {**SIMPLE, "pyproject.toml": "[tool.poetry]\n"})
    with pytest.raises(
        AppError, match=r"Write a requirements\.txt listing Django and what the project imports"
    ):
        inspect(source)


def test_unsupported_python_is_an_error_naming_the_supported(tmp_path: Path) -> None:
    source = project(tmp_path, {**SIMPLE, "requirements.txt": "django\n"})
    with pytest.raises(AppError, match=r"--python: Python '3\.9'.*3\.11, 3\.12, 3\.13"):
        inspect(source, python="3.9")
    (source / ".python-version").write_text("3.9.18\n")
    with pytest.raises(AppError, match=r"\.python-version: Python '3.9.18'.*3.11, 3.12, 3.13"):
        inspect(source)


def test_manage_py_without_a_settings_default(tmp_path: Path) -> None:
    source = project(tmp_path, {**SIMPLE, "requirements.txt": "django\n"})
    (source / "manage.py").write_text("import os\nos.environ['DJANGO_SETTINGS_MODULE'] = 'mysite.settings'\n")
    with pytest.raises(AppError, match=r"no os\.environ\.setdefault.*pass --settings"):
        inspect(source)
    assert inspect(source, settings="mysite.settings")[0]["wsgi"] == "mysite.wsgi:application"


@pytest.mark.parametrize(
    ("spec", "allowed"),
    [
        (">=3.11", ["3.11", "3.12", "3.13"]),
        (">=3.12, <4", ["3.12", "3.13"]),
        (">3.11", ["3.11", "3.12", "3.13"]),
        (">=3.12.1", ["3.12", "3.13"]),
        ("<3.12", ["3.11"]),
        ("<3.12.5", ["3.11", "3.12"]),
        ("<=3.12", ["3.11", "3.12"]),
        ("==3.12.*", ["3.12"]),
        ("==3.*", ["3.11", "3.12", "3.13"]),
        ("==3.13.1", ["3.13"]),
        ("~=3.12", ["3.12", "3.13"]),
        ("~=3.11.4", ["3.11"]),
        ("!=3.12.*,>=3.11", ["3.11", "3.13"]),
        ("!=3.12.2", ["3.11", "3.12", "3.13"]),
    ],
)
def test_requires_python_specifiers(spec: str, allowed: list[str]) -> None:
    assert [v for v in ("3.11", "3.12", "3.13") if satisfies(v, spec)] == allowed
    specifiers = pytest.importorskip("packaging.specifiers")  # the reference: any patch release of a series
    reference = specifiers.SpecifierSet(spec)
    assert [v for v in ("3.11", "3.12", "3.13") if any(f"{v}.{p}" in reference for p in range(30))] == allowed


def test_unreadable_specifier_is_an_error() -> None:
    with pytest.raises(AppError, match=r"cannot read 'python3'"):
        satisfies("3.12", ">=3.11,python3")


def test_cli_init_prints_assumptions_or_the_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = startproject(tmp_path)
    assert cli_init(str(source), None, None, None, "3.12", False) == 0
    out = capsys.readouterr().out.splitlines()
    assert "assuming: python: 3.12 (from --python)" in out and out[-1].startswith(
        f"wrote {source / FILE_NAME}"
    )
    assert cli_init(str(source), None, None, None, None, False) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(f"error: {source / FILE_NAME} exists already")
