"""Projects this repository does not ship, made at test time by their framework's own tools.

A ``django-admin startproject`` site with an app that has a model, an image upload and the admin; a
Wagtail site from ``wagtail start``. Only what the project's authors would write is added (their app's
model, admin and views); nothing for Tiers.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import requests
from PIL import Image

from deploy.commands import appenv
from deploy.commands.releases import ENV_CACHE, integration_requirements

NOTES_MODELS = """from django.db import models


class Note(models.Model):
    title = models.CharField(max_length=100)
    image = models.ImageField(upload_to="notes/", blank=True)

    def __str__(self) -> str:
        return self.title
"""
NOTES_ADMIN = """from django.contrib import admin

from .models import Note

admin.site.register(Note)
"""
NOTES_VIEWS = """from django.shortcuts import render

from .models import Note


def index(request):
    return render(request, "notes/index.html", {"notes": Note.objects.order_by("id")})
"""
NOTES_TEMPLATE = """<!doctype html><title>Notes</title><h1>Notes {{ version }}</h1>
<ul>{% for n in notes %}<li>{{ n.title }}{% if n.image %} <img src="{{ n.image.url }}">{% endif %}</li>{% endfor %}</ul>
"""


def startproject(dest: Path) -> Path:
    """``django-admin startproject notes_site`` plus ``startapp notes``, a model with an image, the admin
    and a page listing the notes; it asks for Django 6.0 on Python 3.12 (not the kit's own 5.2 / 3.11)."""
    dest.mkdir(parents=True)
    admin = Path(sys.executable).parent / "django-admin"
    subprocess.run([str(admin), "startproject", "notes_site", str(dest)], check=True)
    subprocess.run([sys.executable, "manage.py", "startapp", "notes"], cwd=dest, check=True)
    (dest / "notes" / "models.py").write_text(NOTES_MODELS)
    (dest / "notes" / "admin.py").write_text(NOTES_ADMIN)
    (dest / "notes" / "views.py").write_text(NOTES_VIEWS)
    templates = dest / "notes" / "templates" / "notes"
    templates.mkdir(parents=True)
    (templates / "index.html").write_text(NOTES_TEMPLATE.replace("{{ version }}", "v1"))
    settings = dest / "notes_site" / "settings.py"
    text = settings.read_text()
    settings.write_text(
        re.sub(r"(['\"]django\.contrib\.staticfiles['\"],)", r"\1\n    'notes',", text, count=1)
    )
    urls = dest / "notes_site" / "urls.py"
    urls.write_text(
        urls.read_text()
        .replace(
            "from django.urls import path", "from django.urls import path\n\nfrom notes.views import index"
        )
        .replace("urlpatterns = [", 'urlpatterns = [\n    path("", index, name="index"),')
    )
    (dest / "requirements.txt").write_text("Django>=6.0,<6.1\nPillow>=11\n")
    (dest / ".python-version").write_text("3.12\n")
    subprocess.run([sys.executable, "manage.py", "makemigrations", "notes"], cwd=dest, check=True)
    return dest


def wagtail_start(dest: Path) -> Path:
    """``wagtail start mysite`` with Wagtail's own command, run from an environment that has Wagtail."""
    reqs = dest.parent / "wagtail-cli.txt"
    reqs.write_text("wagtail>=7,<9\n")
    env = appenv.ensure_env(ENV_CACHE, "3.11", reqs, integration_requirements())
    dest.mkdir(parents=True)
    cli = "import sys; from wagtail.bin.wagtail import main; sys.argv[0] = 'wagtail'; main()"
    subprocess.run([str(appenv.env_python(env)), "-c", cli, "start", "mysite", str(dest)], check=True)
    return dest


def png(size: tuple[int, int] = (64, 48), colour: str = "orange") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


class PageLoad:
    """GETs of one page through the load balancer from two threads until stopped (bounded in count)."""

    def __init__(self, url: str, threads: int = 2, limit: int = 2000) -> None:
        self.url, self.limit = url, limit
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.total = 0
        self.failures: list[str] = []
        self.bodies: Counter[str] = Counter()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with requests.Session() as s:
            while not self.stop_flag.is_set() and self.total < self.limit:
                try:
                    r = s.get(self.url, timeout=20)
                    problem = (
                        "" if r.status_code == 200 else f"GET {self.url} -> {r.status_code} {r.text[:120]}"
                    )
                except requests.RequestException as exc:
                    problem = f"GET {self.url}: {type(exc).__name__}: {exc}"
                with self.lock:
                    self.total += 1
                    if problem:
                        self.failures.append(problem)
                self.stop_flag.wait(0.02)

    def __enter__(self) -> PageLoad:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=30)
