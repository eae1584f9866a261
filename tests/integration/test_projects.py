"""Projects this repository does not ship, deployed unmodified with `up --app` (issue 19).

Each runs on a cluster of its own (deploy/topologies/test-apps.toml, 127.4.x.y): pages through the LB over
HTTPS, reads served by a replica, uploads in S3 served by the media host, a session that outlives a web
node, a rolling deploy of a changed template under load and a rollback. The notes site asks for another
Django and Python than the kit's own (6.0 on 3.12); bad input is refused before any node changes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from deploy.commands import appenv
from deploy.commands.context import Cluster
from deploy.commands.releases import ENV_CACHE, integration_requirements
from deploy.model.paths import REPO, StatePaths
from deploy.roles import load
from tests.conftest import deploy_cli, stop_test_cluster
from tests.integration.helpers import wait_until
from tests.integration.projects import PageLoad, png, startproject, wagtail_start

pytestmark = pytest.mark.integration

APPS = REPO / "deploy" / "topologies" / "test-apps.toml"
PASSWORD = "a-long-admin-password-9"


def cli(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    if env is None:
        return deploy_cli(*args, check=check, timeout=1500, topology=APPS)
    out = subprocess.run(
        [sys.executable, "-m", "deploy", "--topology", str(APPS), *args],
        cwd=REPO, capture_output=True, text=True, timeout=1500, env={**os.environ, **env},
    )  # fmt: skip
    assert not check or out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.fixture(scope="module")
def apps() -> Iterator[Cluster]:
    topo = load(APPS)
    c = Cluster(topo, StatePaths.for_cluster(topo.cluster.name))
    cli("clean")  # a kept cluster of an earlier run served a project from another run's folder
    try:
        yield c
    finally:
        stop_test_cluster(c)


def site(c: Cluster) -> str:
    lb = c.topo.one("lb")
    return f"https://{lb.address}:{lb.opt('https_port')}"


def https(c: Cluster) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace the cluster's CA
    s.verify = str(c.paths.ca_cert)
    return s


def releases_of_nodes(c: Cluster) -> list[str]:
    out = []
    for n in c.topo.by_role("web"):
        body = requests.get(f"http://{n.address}:{n.opt('check_port')}/readyz", timeout=5).json()
        out.append(body["release"])
    return out


def admin_login(c: Cluster, s: requests.Session, login_path: str = "/admin/login/") -> None:
    base = site(c)
    page = s.get(f"{base}{login_path}", timeout=10)
    assert page.status_code == 200, page.text[:300]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    r = s.post(
        f"{base}{login_path}",
        data={"csrfmiddlewaretoken": token, "username": "admin", "password": PASSWORD, "next": "/admin/"},
        headers={"Referer": f"{base}{login_path}", "Origin": base},
        timeout=30,
    )
    assert r.status_code == 200 and "/login" not in r.url, (r.url, r.text[:300])


def make_superuser(c: Cluster) -> None:
    cli("manage", "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com",
        env={"DJANGO_SUPERUSER_PASSWORD": PASSWORD})  # fmt: skip


def session_outlives_a_web_node(c: Cluster, s: requests.Session, path: str = "/admin/") -> None:
    """Logged in, then web1 is killed: the same session still reaches the admin (sessions live in the DB and
    the shared cache, never on a node)."""
    base = site(c)
    try:
        cli("kill", "web1")
        for _ in range(6):
            r = s.get(f"{base}{path}", timeout=20, allow_redirects=False)
            assert r.status_code == 200, (r.status_code, r.headers.get("Location"))
    finally:
        cli("start", "web1")
    wait_until(
        lambda: requests.get(f"http://{c.topo.node('web1').address}:8001/readyz", timeout=5).ok, "web1"
    )


def deploy_and_rollback(
    c: Cluster, project: Path, template: Path, old: str, new: str, page: str = "/"
) -> None:
    """A changed template shipped by a rolling deploy under load (no request lost), then a rollback."""
    before = releases_of_nodes(c)
    template.write_text(template.read_text().replace(old, new))
    lb = c.topo.one("lb")
    with PageLoad(f"http://{lb.address}:{lb.port}{page}") as load:
        cli("deploy", "--app", str(project))
    assert load.failures == [], load.failures[:5]
    assert load.total >= 50, load.total
    assert new in https(c).get(f"{site(c)}{page}", timeout=10).text
    assert set(releases_of_nodes(c)) != set(before)
    with PageLoad(f"http://{lb.address}:{lb.port}{page}") as load:
        cli("rollback")
    assert load.failures == [], load.failures[:5]
    assert releases_of_nodes(c) == before
    assert old in https(c).get(f"{site(c)}{page}", timeout=10).text


@pytest.fixture(scope="module")
def notes(apps: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The startproject site, served by the apps cluster (`up --app` writes its tiers.toml first)."""
    project = startproject(tmp_path_factory.mktemp("projects") / "notes")
    out = cli("up", "--app", str(project))
    assert "assuming: python: 3.12" in out.stdout, out.stdout
    spec = (project / "tiers.toml").read_text()
    assert 'settings = "notes_site.settings"' in spec and 'python = "3.12"' in spec
    make_superuser(apps)
    return project


def test_a_startproject_site_on_django_6_and_python_3_12(apps: Cluster, notes: Path) -> None:
    project = notes
    s = https(apps)
    base = site(apps)
    r = s.get(f"{base}/", timeout=10)
    assert r.status_code == 200 and "Notes v1" in r.text
    # Another Django and Python than the kit's: the release's own.
    version = cli(
        "manage", "shell", "-c", "import django, sys; print(django.get_version(), sys.version_info[:2])"
    )
    last = version.stdout.strip().splitlines()[-1]
    assert last.startswith("6.0") and last.endswith("(3, 12)"), version.stdout
    # Reads from a replica (the debug header names the aliases that served the request's reads).
    wait_until(lambda: s.get(f"{base}/", timeout=10).headers.get("X-DB-Reads") == "db2", "a replica read")

    # An image uploaded through the admin lands in S3 and is served by the media host.
    admin_login(apps, s)
    form = s.get(f"{base}/admin/notes/note/add/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    image = png()
    r = s.post(
        f"{base}/admin/notes/note/add/",
        data={"csrfmiddlewaretoken": token, "title": "first note", "_save": "Save"},
        files={"image": ("photo.png", image, "image/png")},
        headers={"Referer": f"{base}/admin/notes/note/add/", "Origin": base},
        timeout=30,
    )
    assert r.status_code == 200 and "was added successfully" in r.text, r.text[:500]
    page = s.get(f"{base}/", timeout=10).text
    src = re.search(r'<img src="([^"]+)"', page).group(1)
    media = apps.topo.one("media")
    assert src.startswith(f"http://{media.address}:{media.port}/media/notes/"), src
    served = requests.get(src, timeout=10)
    assert served.status_code == 200 and served.content == image

    session_outlives_a_web_node(apps, s)
    deploy_and_rollback(apps, project, project / "notes" / "templates" / "notes" / "index.html", "v1", "v2")


def test_bad_projects_are_refused_before_any_node_changes(apps: Cluster, notes: Path, tmp_path: Path) -> None:
    """Each with a clear error, nothing shipped or switched, the running release serving throughout."""
    before = releases_of_nodes(apps)
    live = apps.releases.live()
    served = apps.app_source()

    def refused(source: Path, expect: str, env: dict[str, str] | None = None) -> None:
        out = cli("deploy", "--app", str(source), check=False, env=env)
        assert out.returncode != 0, out.stdout
        assert expect in out.stderr, out.stderr[-3000:]
        assert releases_of_nodes(apps) == before and apps.releases.live() == live
        assert https(apps).get(f"{site(apps)}/", timeout=10).status_code == 200

    def copy(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(served, dest, ignore=shutil.ignore_patterns("__pycache__"))
        return dest

    empty = tmp_path / "empty"
    empty.mkdir()
    refused(empty, "no manage.py here")

    broken = copy("broken-settings")
    (broken / "notes_site" / "settings.py").write_text("import no_such_module_here\n")
    refused(broken, "No module named 'no_such_module_here'")

    uninstallable = copy("bad-requirements")
    (uninstallable / "requirements.txt").write_text("Django>=6.0,<6.1\ntiers-no-such-package-0e7b==1.0\n")
    refused(uninstallable, "could not be built")

    secret = copy("missing-secret")
    toml = secret / "tiers.toml"
    toml.write_text(toml.read_text().replace("names = []", 'names = ["NOTES_API_TOKEN"]'))
    refused(secret, "NOTES_API_TOKEN")

    python = copy("missing-python")
    (python / "requirements.txt").write_text("Django>=6.0,<6.1\nPillow>=11\n# another env\n")
    # A machine without the pyenv Pythons: 3.12 is then nowhere to be found.
    refused(python, "Python 3.12 is not on this machine", env={"PYENV_ROOT": str(tmp_path / "no-pyenv")})


def test_a_wagtail_site(apps: Cluster, tmp_path: Path) -> None:
    project = wagtail_start(tmp_path / "cms")
    cli("clean")  # the cluster served the notes site: this one starts over with the CMS
    # `wagtail start` asks for Django 6.1, which needs Python 3.12 or later (the project does not say so).
    cli("init", str(project), "--python", "3.12")
    cli("up", "--app", str(project))
    make_superuser(apps)
    s = https(apps)
    base = site(apps)
    home = s.get(f"{base}/", timeout=10)
    assert home.status_code == 200 and "Welcome to your new Wagtail site" in home.text, home.text[:300]
    wait_until(lambda: s.get(f"{base}/", timeout=10).headers.get("X-DB-Reads") == "db2", "a replica read")

    # An image and a rendition (Wagtail resizes it and stores the result through the default storage).
    code = (
        "from django.core.files.images import ImageFile; import io; from wagtail.images.models import Image; "
        f"data = {png((320, 200))!r}; "
        "img = Image.objects.create(title='poster', file=ImageFile(io.BytesIO(data), name='poster.png')); "
        "r = img.get_rendition('fill-80x60'); print(img.file.url); print(r.url)"
    )
    urls = cli("manage", "shell", "-c", code).stdout.split()[-2:]
    media = apps.topo.one("media")
    for u in urls:
        assert u.startswith(f"http://{media.address}:{media.port}/media/"), u
        got = requests.get(u, timeout=10)
        assert got.status_code == 200 and got.headers["Content-Type"].startswith("image/"), (
            u,
            got.status_code,
        )
    assert requests.get(urls[1], timeout=10).content[:4] == b"\x89PNG"

    # A restore drill compares every table of the project by default: a CMS has more than fifty.
    cli("backup")
    drill = cli("restore-drill").stdout
    assert "restore drill passed" in drill and drill.count(" rows") > 100, drill[-2000:]
    assert "wagtailcore_page 2 rows" in drill

    admin_login(apps, s)
    dashboard = s.get(f"{base}/admin/", timeout=10, allow_redirects=False)
    assert dashboard.status_code == 200, dashboard.status_code
    session_outlives_a_web_node(apps, s)
    template = project / "home" / "templates" / "home" / "welcome_page.html"
    deploy_and_rollback(
        apps, project, template, "Welcome to your new Wagtail site", "Welcome to Tiers' Wagtail site"
    )


def test_the_integration_runs_on_django_4_2(tmp_path: Path) -> None:
    """The oldest Django Tiers takes (4.2 LTS, on 3.11): a startproject site made by 4.2's own tool passes
    Django's checks under the layer and answers the LB's probes (5.2, 6.0 and 6.1 are deployed above)."""
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("Django>=4.2,<5.0\n")
    python = appenv.env_python(appenv.ensure_env(ENV_CACHE, "3.11", reqs, integration_requirements()))
    subprocess.run([str(python), "-m", "django", "startproject", "oldsite", str(tmp_path)], check=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tiers_site.settings", "TIERS_APP_SETTINGS": "oldsite.settings",
           "PYTHONPATH": str(REPO / "app")}  # fmt: skip
    check = subprocess.run(
        [str(python), "manage.py", "check"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    probe = (
        "import django; django.setup(); from django.test import Client; "
        "print(django.get_version(), Client().get('/healthz').status_code)"
    )
    out = subprocess.run([str(python), "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    version, status = out.stdout.split()
    assert version.startswith("4.2.") and status == "200", out.stderr
