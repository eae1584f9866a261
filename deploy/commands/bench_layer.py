"""`make bench` section "layer": what the Tiers layer costs one page of the project a cluster serves.

Two uWSGI servers run the live release side by side (its code, its Python, its uWSGI; one process, one
thread each, on the first web node's address), measured in interleaved rounds against the same page:

- **Tiers**: the settings every web node runs (the project's own under the integration's layer: router
  and read-your-writes, replicas through the pooler, signed sessions in memcached, the request context,
  health, admin allowlist, throttle and read-only middleware, JSON logging);
- **own**: the project's own settings module as it is, pointed at the same database (the pooler's primary
  pool) and with what a project's settings need to serve at all outside DEBUG: any host allowed, static
  URLs from Django's plain storage (a manifest storage would need a collectstatic of its own).

The ratio Tiers / own is what the layer costs (or saves: replicas and the shared cache) a page.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from ..model.release import Release
from ..render.django_env import web_environment
from .context import Cluster
from .progress import Progress
from .wrk import median_runs

PAGE = "/"
PORTS = {"Tiers layer": 8091, "project's own settings": 8092}
OWN_MODULE = "tiers_bench_own_settings"
TARGET = 0.95


def own_settings(project_settings: str, env: dict[str, str]) -> str:
    """The project's settings module, with the cluster's database and nothing else of the layer's."""
    database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": env["DB_NAME"],
        "USER": env["DB_USER"],
        "PASSWORD": env["DB_PASSWORD"],
        "HOST": env["DB_PRIMARY_HOST"],
        "PORT": env["DB_PRIMARY_PORT"],
        "CONN_MAX_AGE": 60,
        "DISABLE_SERVER_SIDE_CURSORS": env.get("DB_POOLED") == "1",
    }
    return (
        f"from {project_settings} import *  # noqa: F403\n\n"
        "DEBUG = False\n"
        'ALLOWED_HOSTS = ["*"]\n'
        f"DATABASES = {{'default': {database!r}}}\n"
        "STORAGES = {**globals().get('STORAGES', {}), "
        "'staticfiles': {'BACKEND': 'django.contrib.staticfiles.storage.StaticFilesStorage'}}\n"
    )


def server_ini(release: Release, address: str, port: int, extra_path: Path, env: dict[str, str]) -> str:
    """A web node's uWSGI essentials (render/uwsgi.py) for one bench server: the project's WSGI callable,
    one process, one thread, the Connection: close the LB relies on, no request logging."""
    lines = [
        "[uwsgi]", "strict = true", "master = true", "need-app = true", "die-on-term = true",
        "single-interpreter = true", "enable-threads = true", f"http-socket = {address}:{port}",
        "add-header = Connection: close", f"chdir = {release.app}", f"pythonpath = {release.app}",
        f"pythonpath = {release.integration}", f"pythonpath = {extra_path}", f"module = {release.spec.wsgi}",
        "processes = 1", "threads = 1", "listen = 64", "disable-logging = true",
        *(f"env = {k}={v}" for k, v in env.items()),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def servers(cluster: Cluster, release: Release, address: str) -> Iterator[dict[str, str]]:
    node = cluster.topo.by_role("web")[0]
    tiers_env = web_environment(cluster.topo, node, cluster.paths, cluster.secrets, release)
    own_env = {**tiers_env, "DJANGO_SETTINGS_MODULE": OWN_MODULE}
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="tiers-bench-layer-") as tmp:
        work = Path(tmp)
        (work / f"{OWN_MODULE}.py").write_text(own_settings(release.spec.settings, tiers_env))
        urls = {}
        try:
            for (label, port), env in zip(PORTS.items(), (tiers_env, own_env), strict=True):
                ini = work / f"{port}.ini"
                ini.write_text(server_ini(release, address, port, work, env))
                log = (work / f"{port}.log").open("w")
                procs.append(
                    subprocess.Popen([str(release.uwsgi), "--ini", str(ini)], stdout=log, stderr=log)
                )
                urls[label] = f"http://{address}:{port}{PAGE}"
            for label, url in urls.items():
                _wait_200(url, label, work / f"{PORTS[label]}.log")
            yield urls
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=30)


class ServerFailed(RuntimeError):
    """One of the two servers does not serve the page."""


def _wait_200(url: str, label: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    problem = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                if r.status == 200:
                    return
                problem = f"HTTP {r.status}"
        except OSError as exc:
            problem = str(exc)
        time.sleep(0.5)
    tail = log.read_text()[-1500:] if log.exists() else ""
    raise ServerFailed(f"the {label} server never answered {url} with 200 ({problem}):\n{tail}")


def layer_cost(cluster: Cluster, progress: Progress) -> list[str]:
    release = cluster.live_release()
    spec = release.spec
    address = cluster.topo.by_role("web")[0].address
    heading = "## What the Tiers layer costs a page"
    step = f"{spec.name} {PAGE}: the Tiers layer and the project's own settings, side by side"
    try:
        with progress.step(step), servers(cluster, release, address) as urls:
            results = median_runs(urls, rounds=5, seconds=5)
    except ServerFailed as exc:
        # A project written for Tiers (the box office reads TIERS_* settings) has no "own" to compare with.
        progress.say(str(exc))
        return [heading, "", f"Not measured for `{spec.name}`: {exc.args[0].splitlines()[0]}", ""]
    tiers, own = (results[label] for label in PORTS)
    ratio = tiers.rps / own.rps if own.rps else 0.0
    return [
        heading,
        "",
        f"Page `{PAGE}` of `{spec.name}` (release `{release.version}`, Python {spec.python}, settings "
        f"`{spec.settings}`), one uWSGI process and thread per server on the first web node's address, "
        "wrk -t2 -c16, 5 interleaved rounds of 5 s, median round. _own_: the project's settings pointed at "
        "the cluster's primary (through the pooler), nothing else of the layer (deploy/commands/bench_layer.py).",
        "",
        "| settings | req/s | p50 ms | p99 ms | requests | errors |",
        "|---|---|---|---|---|---|",
        *(results[label].row(label) for label in PORTS),
        "",
        f"Tiers / own: **{ratio:.2f}** (target >= {TARGET}).",
        "",
    ]
