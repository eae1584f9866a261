"""uWSGI ini, memcached and SeaweedFS command lines, supervisord programs: exact output."""

from __future__ import annotations

import json
from pathlib import Path

from deploy.render.memcached import memcached_command
from deploy.render.seaweed import s3_identities, seaweed_command
from deploy.render.supervisor import render_supervisord
from deploy.render.uwsgi import render_uwsgi
from deploy.roles.base import RenderContext
from deploy.roles.nodes import programs
from tests.unit.fixtures import PATHS, SECRETS, app_spec, fake_release, small
from tests.unit.golden import assert_golden

# Where the store keeps releases under PATHS' state root.
RELEASE = fake_release("v1", Path("/state/releases"))


def released(topo=None) -> RenderContext:
    """Every web node on RELEASE, which is also the live one (workers and queue nodes run it)."""
    topo = topo or small()
    return RenderContext(
        topo,
        PATHS,
        SECRETS,
        node_releases={w.name: RELEASE for w in topo.by_role("web")},
        worker_release=RELEASE,
    )


def test_uwsgi_ini_exact() -> None:
    topo = small()
    assert_golden("uwsgi-web1.ini", render_uwsgi(topo, topo.by_role("web")[0], PATHS, SECRETS, RELEASE))


def test_uwsgi_runs_the_projects_wsgi_on_the_releases_paths() -> None:
    topo = small()
    text = render_uwsgi(topo, topo.by_role("web")[0], PATHS, SECRETS, RELEASE, "tiers-web")
    assert "\nchdir = /state/releases/v1/app\n" in text
    # The project's code first on the path, then the integration's packages.
    assert "\npythonpath = /state/releases/v1/app\npythonpath = /state/releases/v1/tiers\n" in text
    assert "\nmodule = shop.wsgi:application\n" in text
    # The integration's layer is the settings module; it imports the project's.
    assert "\nenv = DJANGO_SETTINGS_MODULE=tiers_site.settings\n" in text
    assert "\nenv = TIERS_APP_SETTINGS=shop.settings\n" in text
    assert "\nenv = TIERS_RELEASE=v1\n" in text
    # The project's variables and the secrets it declares (and only those).
    assert "\nenv = SITE_NAME=Shop\n" in text
    assert "\nenv = APP_TOKEN=test-token\n" in text
    other = fake_release("v1", Path("/state/releases"), app_spec(secrets=()))
    assert "test-token" not in render_uwsgi(topo, topo.by_role("web")[0], PATHS, SECRETS, other)


def test_uwsgi_threads_enable_threading() -> None:
    topo = small()
    text = render_uwsgi(topo, topo.by_role("web")[1], PATHS, SECRETS, RELEASE)
    # Two site workers and the check worker, each socket mapped to its own workers.
    assert "processes = 3\nthreads = 2\n" in text
    assert "\nmap-socket = 0:1,2\nmap-socket = 1:3\n" in text
    assert "\nhttp-socket = 127.9.1.2:8000\nhttp-socket = 127.9.1.2:8001\n" in text
    assert "\nenable-threads = true\n" in text
    assert "env = TIERS_NODE_NAME=web2\n" in text


def test_uwsgi_refuses_bodies_over_the_lb_cap() -> None:
    topo = small()
    text = render_uwsgi(topo, topo.by_role("web")[0], PATHS, SECRETS, RELEASE)
    assert f"\nlimit-post = {10 * 1024 * 1024}\n" in text


def test_memcached_command() -> None:
    assert memcached_command(small().by_role("cache")[0]) == [
        "/usr/bin/memcached", "-l", "127.9.3.1", "-p", "11211", "-U", "0", "-m", "64", "-c", "1024",
        "-t", "2",
    ]  # fmt: skip


def test_seaweed_command_binds_its_own_address() -> None:
    topo = small()
    assert seaweed_command(topo, topo.one("s3"), PATHS) == [
        "/repo/.venv/bin/weed", "mini", "-dir=/state/data/s3", "-ip=127.9.4.1", "-ip.bind=127.9.4.1",
        "-s3.port=8333", "-s3.port.https=8334", "-s3.cert.file=/state/tls/s3.pem",
        "-s3.key.file=/state/tls/s3.pem", "-master.port=9333", "-volume.port=9340", "-filer.port=8888",
        "-s3.config=/state/conf/s3-identities.json",
        "-filer.localSocket=/state/run/s3/filer.sock", "-s3.localSocket=/state/run/s3/s3.sock",
        "-admin.ui=false", "-webdav=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-bucket=tiers-media,tiers-static,tiers-private,tiers-backup",
    ]  # fmt: skip


def test_s3_identities_give_anonymous_read_of_public_buckets_only() -> None:
    data = json.loads(s3_identities(small(), SECRETS))
    app, backup, anonymous = data["identities"]
    assert app["credentials"] == [{"accessKey": "test-s3_access_key", "secretKey": "test-s3_secret_key"}]
    assert "Write:tiers-private" in app["actions"]
    # The app's key pair cannot reach the backups; pgBackRest's reaches nothing else.
    assert not [a for a in app["actions"] if a.endswith(":tiers-backup")]
    assert backup == {
        "name": "tiers-backup",
        "credentials": [{"accessKey": "test-backup_s3_access_key", "secretKey": "test-backup_s3_secret_key"}],
        "actions": ["Read:tiers-backup", "Write:tiers-backup", "List:tiers-backup"],
    }
    # The private bucket (ticket PDFs, originals) is never anonymously readable.
    assert anonymous == {"name": "anonymous", "actions": ["Read:tiers-media", "Read:tiers-static"]}


def test_supervisord_config_exact() -> None:
    assert_golden("supervisord.conf", render_supervisord("mini", programs(released()), PATHS))


def test_programs_cover_every_node_in_dependency_order() -> None:
    progs = programs(released())
    # Every node's program, each DB node's backup schedule right after it.
    expected = [
        name for n in small() for name in (n.name, *([f"{n.name}-backups"] if n.role == "db" else []))
    ]
    assert [p.name for p in progs] == expected
    by_name = {p.name: p for p in progs}
    assert by_name["db1"].user == "postgres"
    assert by_name["db1"].argv == ("/repo/.venv/bin/patroni", "/state/conf/patroni-db1.yml")
    assert by_name["etcd"].priority < by_name["db1"].priority < by_name["dbproxy"].priority
    # The DB nodes archive WAL to the S3 store: it starts before them and stops after them.
    assert by_name["s3"].priority < by_name["db1"].priority
    assert by_name["dbproxy"].priority < by_name["web1"].priority < by_name["lb"].priority
    assert by_name["worker1"].environment["TIERS_NODE_NAME"] == "worker1"


def test_environment_line_escapes_quotes_and_percent() -> None:
    from deploy.model.units import Program

    p = Program(name="x", role="worker", argv=("true",), environment={"A": 'say "hi"', "B": "100%"})
    assert p.environment_line == 'A="say \\"hi\\"",B="100%%"'


def test_workers_run_the_live_release_when_there_is_one() -> None:
    topo = small()
    worker = next(p for p in programs(RenderContext(topo, PATHS, SECRETS)) if p.name == "worker1")
    # Before the first release there is nothing to run: only the preflight's binary check reads this.
    assert worker.argv == ("/repo/.venv/bin/python",) and not worker.environment
    worker = next(p for p in programs(released(topo)) if p.name == "worker1")
    # The project's command (`python manage.py tasks_worker`) on the release's own Python.
    assert worker.argv == ("/state/releases/v1/venv/bin/python", "manage.py", "tasks_worker")
    assert worker.directory == "/state/releases/v1/app"
    assert worker.environment["TIERS_RELEASE"] == "v1"
    assert worker.environment["TIERS_APP_SETTINGS"] == "shop.settings"
    assert worker.environment["PYTHONPATH"] == "/state/releases/v1/tiers"


def test_web_nodes_run_the_releases_uwsgi() -> None:
    progs = {p.name: p for p in programs(released())}
    assert progs["web1"].argv == ("/state/releases/v1/venv/bin/uwsgi", "--ini", "/state/conf/uwsgi-web1.ini")
    assert progs["queue1"].argv[0] == "/state/releases/v1/venv/bin/uwsgi"
    # Before the first release: the kit's, which only the preflight's binary check looks at.
    bare = {p.name: p for p in programs(RenderContext(small(), PATHS, SECRETS))}
    assert bare["web1"].argv[0] == "/repo/.venv/bin/uwsgi"
