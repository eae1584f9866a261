"""Media-tier section of `make bench`: one media file three ways, side by side.

1. through the nginx media host (cache warm, the production path);
2. streamed from S3 through Django on web1 (``/_bench/media/<key>``, local profile only);
3. the same bytes from disk by a throw-away nginx (same build, one worker) on a spare loopback address.

Bounded: wrk runs of a few seconds each (-t2 -c16), loopback addresses only. The file is a noisy
1200 x 800 JPEG (~300 KB) the benchmark puts into the media bucket under ``events/bench/`` once.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from .context import Cluster
from .progress import Progress
from .wrk import WrkResult, median_runs

BENCH_KEY = "events/bench/sample-1200x800.jpg"  # the Django bench view streams only events/

DISK_NGINX = """daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp; fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
    # Same logging cost as the media host (one access line per request).
    access_log {root}/access.log;
    sendfile on;
    tcp_nopush on;
    server {{
        listen {address}:{port};
        location /media/ {{ root {root}; }}
    }}
}}
"""


def ensure_bench_object(cluster: Cluster) -> bytes:
    """Put the benchmark's JPEG into the media bucket (once) and return its bytes."""
    import boto3
    from botocore.config import Config
    from PIL import Image

    s3node, storage, secrets = cluster.topo.one("s3"), cluster.topo.storage, cluster.secrets
    client = boto3.client(
        "s3",
        endpoint_url=storage.endpoint_url or f"http://{s3node.address}:{s3node.port}",
        aws_access_key_id=secrets.s3_access_key,
        aws_secret_access_key=secrets.s3_secret_key,
        region_name=storage.region,
        config=Config(s3={"addressing_style": storage.addressing_style}, retries={"max_attempts": 1}),
    )
    try:
        return client.get_object(Bucket=storage.media_bucket, Key=BENCH_KEY)["Body"].read()
    except client.exceptions.NoSuchKey:
        pass
    rng = random.Random(7)
    image = Image.frombytes("RGB", (1200, 800), bytes(rng.getrandbits(8) for _ in range(1200 * 800 * 3)))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=70)
    body = buf.getvalue()
    client.put_object(Bucket=storage.media_bucket, Key=BENCH_KEY, Body=body, ContentType="image/jpeg")
    return body


def media_tier(cluster: Cluster, progress: Progress) -> list[str]:
    topo = cluster.topo
    with progress.step("media: putting the sample JPEG into the media bucket"):
        body = ensure_bench_object(cluster)
    media = f"http://{topo.one('media').address}:{topo.one('media').port}/media/{BENCH_KEY}"
    web = topo.by_role("web")[0]
    django = f"http://{web.address}:{web.port}/_bench/media/{BENCH_KEY}"
    assert urllib.request.urlopen(media, timeout=10).read() == body, "the media host served other bytes"
    assert urllib.request.urlopen(django, timeout=10).read() == body, "Django streamed other bytes"
    root = Path(tempfile.mkdtemp(prefix="bench-media-"))
    root.chmod(0o755)  # nginx workers (www-data) read the file
    (root / "tmp").mkdir()
    (root / "media" / BENCH_KEY).parent.mkdir(parents=True)
    (root / "media" / BENCH_KEY).write_bytes(body)
    address, port = topo.one("media").address.rsplit(".", 1)[0] + ".250", 8099
    (root / "nginx.conf").write_text(DISK_NGINX.format(root=root, address=address, port=port))
    disk = f"http://{address}:{port}/media/{BENCH_KEY}"
    proc = subprocess.Popen(["/usr/sbin/nginx", "-p", str(root), "-c", str(root / "nginx.conf")])
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                assert urllib.request.urlopen(disk, timeout=2).read() == body
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        labels = {
            "nginx media host (S3 behind it, cache warm)": media,
            "Django on web1 streaming the object from S3": django,
            "nginx, the same file from disk": disk,
        }
        with progress.step("media: wrk on media host, Django, nginx-from-disk (3 interleaved rounds of 4 s)"):
            results: dict[str, WrkResult] = median_runs(labels, seconds=4)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
    m, d, s = (r.rps for r in results.values())
    return [
        "## Media tier: one media file through the nginx media host, through Django, from disk",
        "",
        f"`{BENCH_KEY}` ({len(body):,} bytes); `wrk -t2 -c16 -d4s --latency`, 3 rounds interleaved, median run.",
        "",
        "| path | req/s | p50 ms | p99 ms | requests | errors |",
        "|---|---|---|---|---|---|",
        *(r.row(label) for label, r in results.items()),
        "",
        f"- **Media host / Django: {m / d:.0f}x** (target >= 10x).",
        f"- **Media host / nginx from disk: {m / s:.2f}**.",
        "",
    ]
