"""Media-tier benchmark (docs/BENCHMARKS.md, "Media tier"): one media file three ways, side by side.

    python -m deploy.bench_media -t TOPOLOGY [--seconds 5]

1. through the nginx media host (cache warm, the production path);
2. streamed from S3 through Django on web1 (``/_bench/media/<key>``, local profile only);
3. the same bytes from disk by a throw-away nginx (same build, one worker) on a spare loopback port.

Bounded: three wrk runs of a few seconds each (-t2 -c16), loopback addresses only.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg2

from .bench import WrkResult, wrk
from .cluster import Cluster
from .paths import StatePaths
from .topology import load

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


def pick_media_key(cluster: Cluster, key: str = "") -> str:
    if key:
        return key
    proxy, database = cluster.topo.dbproxy, cluster.topo.database
    conn = psycopg2.connect(host=proxy.address, port=proxy.port, dbname=database.name, user=database.user,
                            password=cluster.secrets.db_app_password, connect_timeout=3)  # fmt: skip
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT image_display FROM boxoffice_event WHERE image_display <> '' ORDER BY id LIMIT 1"
            )
            row = cur.fetchone()
    finally:
        conn.close()
    if not row:
        raise SystemExit("no event has a display image yet: upload one (organizer page or admin) first")
    return row[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-t", "--topology", required=True)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--key", default="", help="media key to fetch (default: the first display image)")
    parser.add_argument("--disk-address", default="", help="loopback address for the disk nginx")
    parser.add_argument("--disk-port", type=int, default=8099)
    args = parser.parse_args()
    topo = load(args.topology)
    cluster = Cluster(topo, StatePaths.for_cluster(topo.cluster.name))
    key = pick_media_key(cluster, args.key)
    media = f"http://{topo.media.address}:{topo.media.port}/media/{key}"
    web = topo.web[0]
    django = f"http://{web.address}:{web.port}/_bench/media/{key}"
    body = urllib.request.urlopen(media, timeout=10).read()
    assert urllib.request.urlopen(django, timeout=10).read() == body, "Django streamed other bytes"
    root = Path(tempfile.mkdtemp(prefix="bench-media-"))
    root.chmod(0o755)  # nginx workers (www-data) read the file
    (root / "tmp").mkdir()
    (root / "media" / key).parent.mkdir(parents=True)
    (root / "media" / key).write_bytes(body)
    address = args.disk_address or topo.media.address.rsplit(".", 1)[0] + ".250"
    (root / "nginx.conf").write_text(DISK_NGINX.format(root=root, address=address, port=args.disk_port))
    disk = f"http://{address}:{args.disk_port}/media/{key}"
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
        results: dict[str, WrkResult] = {}
        for label, target in (("nginx media host (S3 behind, cache warm)", media),
                              ("Django on web1 streaming from S3", django),
                              ("nginx, same file from disk", disk)):  # fmt: skip
            results[label] = wrk(target, seconds=args.seconds)
            time.sleep(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
    print(f"file: {key} ({len(body):,} bytes); wrk -t2 -c16 -d{args.seconds}s --latency\n")
    print("| path | rps | p50 ms | p99 ms | requests | errors |\n|---|---|---|---|---|---|")
    for label, result in results.items():
        print(result.row(label))
    m, d, s = (r.rps for r in results.values())
    print(f"\nmedia host / Django: {m / d:.1f}x; media host / nginx from disk: {m / s:.2f}")


if __name__ == "__main__":
    main()
