"""tiers.toml's [app] table: what parse() accepts and the errors it gives (deploy/model/app.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploy.model.app import DEFAULT_LOGIN_URLS, AppError, AppSpec, load, parse

BASE = {"settings": "mysite.settings", "wsgi": "mysite.wsgi:application", "requirements": "requirements.txt"}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "mysite"
    folder.mkdir()
    (folder / "manage.py").write_text("")
    (folder / "requirements.txt").write_text("django\n")
    return folder


def app(source: Path, **keys: Any) -> AppSpec:
    return parse(source, {"app": {**BASE, **keys}}, "tiers.toml")


def test_defaults(source: Path) -> None:
    spec = app(source, wsgi="mysite.wsgi")
    assert (spec.name, spec.python, spec.worker, spec.static, spec.wsgi) == (
        "mysite",
        "3.11",
        "",
        True,
        "mysite.wsgi:application",
    )
    assert spec.urls.login == DEFAULT_LOGIN_URLS and spec.urls.checkout == ()
    assert AppSpec.from_dict(spec.to_dict()) == spec


def test_unknown_key(source: Path) -> None:
    with pytest.raises(
        AppError, match=r"tiers.toml: \[app\] unknown key\(s\) setting; known: name, settings"
    ):
        app(source, setting="x")


def test_no_app_table(source: Path) -> None:
    with pytest.raises(AppError, match=r"no \[app\] table"):
        parse(source, {"application": BASE}, "tiers.toml")


@pytest.mark.parametrize("where", ["env", "secrets"])
def test_reserved_environment_names(source: Path, where: str) -> None:
    keys = {"env": {"DB_PASSWORD": "x"}} if where == "env" else {"secrets": {"names": ["DB_PASSWORD"]}}
    with pytest.raises(AppError, match=r"'DB_PASSWORD' is set by the cluster on every app node.*rename"):
        app(source, **keys)
    with pytest.raises(AppError, match=r"'STATIC_URL' is set by the cluster"):
        app(source, env={"STATIC_URL": "/s/"})


def test_env_and_secret_names(source: Path) -> None:
    with pytest.raises(AppError, match=r"'site_name' is not an environment variable name"):
        app(source, env={"site_name": "x"})
    with pytest.raises(AppError, match=r"both in"):
        app(source, env={"TOKEN": "x"}, secrets={"names": ["TOKEN"]})


@pytest.mark.parametrize("wsgi", ["mysite.wsgi:", "mysite/wsgi.py", "mysite.wsgi:app.x", "1site.wsgi"])
def test_bad_wsgi(source: Path, wsgi: str) -> None:
    with pytest.raises(AppError, match=r"\[app\] wsgi .* is not module:callable \(mysite.wsgi:application\)"):
        app(source, wsgi=wsgi)


def test_missing_requirements_file(source: Path) -> None:
    with pytest.raises(AppError, match=r"\[app\] requirements 'requirements/prod.txt': no such file in"):
        app(source, requirements="requirements/prod.txt")
    (source.parent / "outside.txt").write_text("django\n")
    with pytest.raises(AppError, match=r"must lie inside the project folder"):
        app(source, requirements="../outside.txt")


def test_relative_source_folder(source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(source.parent)
    assert app(Path("mysite")).requirements_path == Path("mysite/requirements.txt")


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        ({"login": ["^/accounts/(login/$"]}, r"login: '\^/accounts/\(login/\$' is not a regex"),
        ({"checkout": ["/buy$"]}, "checkout must be a list of path regexes starting with"),
        ({"checkout": ["^/buy/[0-9]{2}$"]}, "may not hold spaces, quotes or braces"),
        ({"queue": []}, r"\[app.urls\] keys are login, checkout, waiting_room"),
    ],
)
def test_bad_urls(source: Path, urls: dict[str, list[str]], message: str) -> None:
    with pytest.raises(AppError, match=message):
        app(source, urls=urls)


def test_python_and_types(source: Path) -> None:
    with pytest.raises(
        AppError, match=r"python '3\.10': Tiers builds releases for Python 3\.11, 3\.12, 3\.13"
    ):
        app(source, python="3.10")
    with pytest.raises(AppError, match=r"static must be true or false"):
        app(source, static="yes")
    with pytest.raises(AppError, match=r"keep: 'debug' is not an upper-case Django setting name"):
        app(source, keep=["debug"])


def test_load_names_the_fix(source: Path) -> None:
    with pytest.raises(AppError, match=r"tiers.toml: missing. Write it with `python -m deploy init"):
        load(source)
    (source / "tiers.toml").write_text("[app\n")
    with pytest.raises(AppError, match=r"not valid TOML"):
        load(source)
    (source / "manage.py").unlink()
    with pytest.raises(AppError, match=r"no manage\.py here"):
        load(source)


def test_an_env_value_uwsgi_would_expand_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "site"
    source.mkdir()
    (source / "manage.py").write_text("")
    (source / "requirements.txt").write_text("Django\n")
    table = {"app": {"settings": "site.settings", "wsgi": "site.wsgi:application",
                     "requirements": "requirements.txt", "env": {"GREETING": "100%(x)s"}}}  # fmt: skip
    with pytest.raises(AppError, match=r"GREETING: a value may not hold %"):
        parse(source, table, "tiers.toml")
