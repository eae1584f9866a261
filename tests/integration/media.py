"""Helpers for the media-tier integration tests: organizer uploads, buckets, task rows, S3 stop/start."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import psycopg2
import requests
from botocore.config import Config
from PIL import Image

from deploy.commands.context import Cluster
from tests.conftest import deploy_cli
from tests.integration.client import BoxOffice
from tests.integration.helpers import url, wait_until

TASKS_TABLE = "django_tasks_database_dbtaskresult"


def png(size: tuple[int, int] = (640, 480), color: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def organizer(cluster: Cluster, i: int = 0) -> BoxOffice:
    return BoxOffice(url(cluster.topo.by_role("web")[i])).login("organizer", "organizer")


def upload(client: BoxOffice, event_id: int, data: bytes, name: str = "photo.png") -> requests.Response:
    return client.post(
        f"/organizer/events/{event_id}/image",
        files={"image": (name, data, "image/png")},
        headers={"X-CSRFToken": client.csrf},
        allow_redirects=False,
    )


def form_errors(html: str) -> list[str]:
    block = re.search(r'<ul class="errorlist" id="image-errors">(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", block.group(1)) if block else []


def db(cluster: Cluster) -> Any:
    proxy, database = cluster.topo.one("dbproxy"), cluster.topo.database
    conn = psycopg2.connect(
        host=proxy.address, port=proxy.port, dbname=database.name, user=database.user,
        password=cluster.secrets.db_app_password, connect_timeout=3,
    )  # fmt: skip
    conn.autocommit = True
    return conn


def query(cluster: Cluster, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = db(cluster)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def event_images(cluster: Cluster, event_id: int) -> tuple[str, str, str]:
    rows = query(
        cluster, "SELECT image, image_display, image_thumb FROM boxoffice_event WHERE id = %s", event_id
    )
    return rows[0]


def tasks_for(cluster: Cluster, path: str, marker: str) -> list[dict[str, Any]]:
    """Task rows of one task whose arguments mention marker (e.g. an event id), oldest first."""
    rows = query(
        cluster,
        f"SELECT id, status, worker_ids, args_kwargs, enqueued_at, started_at, finished_at, "
        f"exception_class_path, traceback FROM {TASKS_TABLE} WHERE task_path = %s ORDER BY enqueued_at",
        path,
    )
    keys = (
        "id",
        "status",
        "worker_ids",
        "args",
        "enqueued_at",
        "started_at",
        "finished_at",
        "error",
        "traceback",
    )
    out = [dict(zip(keys, r, strict=True)) for r in rows]
    return [r for r in out if marker in json.dumps(r["args"])]


def wait_for_thumbnail(cluster: Cluster, event_id: int, timeout: float = 30) -> tuple[str, str, str]:
    wait_until(lambda: bool(event_images(cluster, event_id)[2]), f"event {event_id}'s thumbnail", timeout)
    return event_images(cluster, event_id)


def s3_client(cluster: Cluster) -> Any:
    s3 = cluster.topo.one("s3")
    return boto3.client(
        "s3",
        endpoint_url=f"http://{s3.address}:{s3.port}",
        region_name=cluster.topo.storage.region,
        aws_access_key_id=cluster.secrets.s3_access_key,
        aws_secret_access_key=cluster.secrets.s3_secret_key,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", connect_timeout=2,
                      retries={"max_attempts": 1}),
    )  # fmt: skip


def bucket_keys(cluster: Cluster) -> set[str]:
    """Every object of the media and private buckets, as "bucket/key"."""
    client = s3_client(cluster)
    keys: set[str] = set()
    for bucket in (cluster.topo.storage.media_bucket, cluster.topo.storage.private_bucket):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys.update(f"{bucket}/{o['Key']}" for o in page.get("Contents", []))
    return keys


def readyz_s3_ok(cluster: Cluster, i: int = 0) -> bool:
    try:
        r = requests.get(f"{url(cluster.topo.by_role('web')[i])}/readyz", timeout=5)
        return bool(r.json()["checks"]["s3"]["ok"])
    except (requests.RequestException, ValueError, KeyError):
        return False


@contextmanager
def s3_stopped(cluster: Cluster) -> Iterator[None]:
    """The S3 process stopped for the block; always started again and waited for (every web node)."""
    deploy_cli("stop", cluster.topo.one("s3").name)
    try:
        yield
    finally:
        deploy_cli("start", cluster.topo.one("s3").name)
        for i in range(len(cluster.topo.by_role("web"))):
            wait_until(lambda i=i: readyz_s3_ok(cluster, i), "S3 back in /readyz", 60, 0.5)


def media_get(cluster: Cluster, path_or_url: str) -> requests.Response:
    media = cluster.topo.one("media")
    target = (
        path_or_url if path_or_url.startswith("http") else f"http://{media.address}:{media.port}{path_or_url}"
    )
    return requests.get(target, timeout=10)


def timed(fn: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = fn()
    return result, time.monotonic() - started
