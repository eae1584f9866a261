"""The nginx media renderer, pinned for a small hand-made topology."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deploy.model.paths import StatePaths
from deploy.model.topology import Topology
from deploy.render.nginx import host_port, keys_zone_mb, render_media
from deploy.roles import loads
from deploy.roles.nodes import node_dirs
from tests.unit.fixtures import VARIED_TOPOLOGY

TOPOLOGY = VARIED_TOPOLOGY

PATHS = StatePaths(root=Path("/state"), repo=Path("/repo"))


def topo(text: str = TOPOLOGY) -> Topology:
    return loads(text, "unit.toml")


def location(config: str, match: str) -> str:
    """The body of ``location <match> {`` (locations here hold no nested blocks)."""
    return config.split(f"location {match} {{\n")[1].split("}")[0]


def test_media_config_is_pinned() -> None:
    assert render_media(topo(), PATHS) == EXPECTED_MEDIA


def test_buckets_and_s3_endpoint_come_from_the_topology() -> None:
    text = TOPOLOGY.replace('"m-bucket"', '"uploads"').replace("port = 9000", "port = 8333")
    config = render_media(topo(text), PATHS)
    assert "proxy_pass http://s3/uploads/;" in location(config, "/media/")
    assert "proxy_pass http://s3/s-bucket/;" in location(config, "/static/")
    assert "server 10.0.4.1:8333;" in config
    assert "proxy_set_header Host 10.0.4.1:8333;" in config


def test_cache_zone_is_sized_from_cache_size_mb() -> None:
    config = render_media(topo(TOPOLOGY.replace("cache_size_mb = 1000", "cache_size_mb = 64")), PATHS)
    assert "keys_zone=media:1m max_size=64m " in config


@pytest.mark.parametrize(("size_mb", "zone_mb"), [(1, 1), (128, 1), (129, 2), (1000, 8)])
def test_keys_zone_is_one_mb_per_128_mb_of_cache(size_mb: int, zone_mb: int) -> None:
    assert keys_zone_mb(size_mb) == zone_mb


def test_everything_written_stays_in_the_state_folder() -> None:
    config = render_media(topo(), PATHS)
    directives = [line for line in config.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in directives if "/var/" in line]
    written = re.findall(r"^\s*(?:\w+_temp_path|proxy_cache_path|pid) (\S+?);?\s", config, re.M)
    assert len(written) == 7  # 5 temp paths, the cache, the pid file
    assert all(p.startswith(("/state/data/cdn/", "/state/run/")) for p in written), written


def test_dirs_to_create_before_start() -> None:
    dirs = node_dirs(PATHS, topo().one("media"))
    assert [(d.path, d.owner, d.mode) for d in dirs] == [(Path("/state/data/cdn"), "root", 0o755)]


def test_cache_lifetimes_and_browser_caching() -> None:
    config = render_media(topo(), PATHS)
    static, media = location(config, "/static/"), location(config, "/media/")
    assert "proxy_cache_valid 200 365d;" in static
    assert 'add_header Cache-Control "public, max-age=31536000, immutable";' in static
    assert "proxy_cache_valid 200 1h;" in media
    for body in (static, media):
        assert "add_header X-Cache-Status $upstream_cache_status always;" in body


def test_stale_copies_serve_while_s3_is_down() -> None:
    config = render_media(topo(), PATHS)
    assert "proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;" in config
    assert "proxy_cache_lock on;" in config


def test_s3_headers_are_hidden() -> None:
    config = render_media(topo(), PATHS)
    for header in ("x-amz-request-id", "x-amz-id-2", "x-amz-version-id", "Cache-Control", "Set-Cookie"):
        assert f"proxy_hide_header {header};" in config


def test_only_reads_and_no_route_elsewhere() -> None:
    config = render_media(topo(), PATHS)
    assert "if ($request_method !~ ^(GET|HEAD)$) {\n            return 405;" in config
    assert location(config, "/").strip() == "return 404;"
    assert 'return 200 "ok";' in location(config, "= /healthz")
    # Exactly three proxy_pass lines, all to the S3 upstream: the two public buckets and the private one.
    assert re.findall(r"proxy_pass (\S+);", config) == [
        "http://s3/m-bucket/",
        "http://s3/s-bucket/",
        "http://s3/tiers-private/",
    ]


def test_private_location_is_signed_urls_only_and_never_cached() -> None:
    text = TOPOLOGY.replace(
        'static_bucket = "s-bucket"', 'static_bucket = "s-bucket"\nprivate_bucket = "p-bucket"'
    )
    config = render_media(topo(text), PATHS)
    private = location(config, "^~ /private/p-bucket/")
    assert "proxy_pass http://s3/p-bucket/;" in private
    assert "proxy_cache off;" in private
    assert 'add_header Cache-Control "private, no-store" always;' in private
    # The query string (the signature) must reach S3: the public locations' `set $args ""` is absent.
    assert "$args" not in private
    # Listing the bucket and any other bucket under /private/ are refused by nginx itself.
    assert location(config, "= /private/p-bucket/").strip() == "return 404;"
    assert location(config, "^~ /private/").strip() == "return 404;"
    # The Host S3 sees is the endpoint the URL was signed for (path-style).
    assert "proxy_set_header Host 10.0.4.1:9000;" in config


def test_ipv6_addresses_are_bracketed() -> None:
    assert host_port("fd00::2", 8080) == "[fd00::2]:8080"
    assert host_port("10.0.0.2", 8080) == "10.0.0.2:8080"
    text = TOPOLOGY.replace('address = "10.0.4.2"', 'address = "fd00::2"')
    assert "listen [fd00::2]:8080 default_server;" in render_media(topo(text), PATHS)


EXPECTED_MEDIA = r"""# Media server (cdn) of cluster unit: rendered by deploy/render/nginx.py, do not edit.
# Serves /media/ and /static/ from the S3 buckets through an on-disk cache; has no route to Django.
# Run as root: `nginx -p <data dir> -c <this file>`; workers drop to www-data.

# Foreground: the process manager supervises the master.
daemon off;
user www-data;
# Two cores shared with the whole cluster; one worker served ~37k rps of small files here.
worker_processes 1;
pid /state/run/nginx-cdn.pid;
# stderr is captured into the node's log file by the process manager.
error_log stderr warn;

events {
    worker_connections 1024;
}

http {
    # Debian's defaults point at /var/lib/nginx: keep every temp file in this node's data dir.
    client_body_temp_path /state/data/cdn/client_body_temp;
    proxy_temp_path /state/data/cdn/proxy_temp;
    fastcgi_temp_path /state/data/cdn/fastcgi_temp;
    uwsgi_temp_path /state/data/cdn/uwsgi_temp;
    scgi_temp_path /state/data/cdn/scgi_temp;

    log_format media '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                     'rt=$request_time cache=$upstream_cache_status s3=$upstream_response_time';
    # Buffered: one write per 64 KB of lines (or per second) instead of one per request. Unbuffered, each
    # line is a write to supervisord's pipe, and supervisord's reads halved cache-hit throughput here.
    access_log /dev/stdout media buffer=64k flush=1s;

    server_tokens off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 30s;
    default_type application/octet-stream;

    # 1000 MB on disk; files not read for 30 days are dropped even if still fresh, and
    # expired ones are kept until then so they can be served stale while S3 is down.
    # use_temp_path=off writes downloads straight into the cache dir (no copy across dirs).
    proxy_cache_path /state/data/cdn/cache levels=1:2 keys_zone=media:8m max_size=1000m inactive=30d use_temp_path=off;

    upstream s3 {
        # An IP literal: the config loads even while S3 is down.
        server 10.0.4.1:9000;
        # Reuse connections to S3 instead of a new one per cache miss.
        keepalive 16;
    }

    server {
        listen 10.0.4.2:8080 default_server;
        server_name _;

        # Read-only tier: anything but GET/HEAD is refused here, never forwarded.
        add_header Allow "GET, HEAD" always;
        if ($request_method !~ ^(GET|HEAD)$) {
            return 405;
        }

        # Keep-alive to the upstream needs HTTP/1.1 and no "Connection: close".
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        # Path-style S3: the endpoint itself is the Host; the buckets are anonymously readable.
        proxy_set_header Host 10.0.4.1:9000;
        proxy_set_header Authorization "";
        proxy_set_header Cookie "";
        # A dead S3 must fail fast so a stale copy is served instead.
        proxy_connect_timeout 2s;
        proxy_send_timeout 10s;
        proxy_read_timeout 30s;

        proxy_cache media;
        # The object path alone: query strings are dropped below, so they cannot bust the cache.
        proxy_cache_key $uri;
        # One request per missing file goes to S3; the others wait for it (onsale rush).
        proxy_cache_lock on;
        proxy_cache_lock_timeout 5s;
        # While S3 is down or slow, serve what the cache has, however old.
        proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
        # Refresh an expired file in the background, answering with the stale copy meanwhile.
        proxy_cache_background_update on;
        # Refresh with If-Modified-Since/If-None-Match: S3 answers 304 without the body.
        proxy_cache_revalidate on;
        # The cache lifetimes below are this tier's policy, whatever metadata the objects carry.
        proxy_ignore_headers Cache-Control Expires Set-Cookie Vary;
        proxy_hide_header Cache-Control;
        proxy_hide_header Expires;
        proxy_hide_header Set-Cookie;
        # S3 internals stay internal (nginx already drops the upstream's Server and Date).
        proxy_hide_header x-amz-request-id;
        proxy_hide_header x-amz-id-2;
        proxy_hide_header x-amz-version-id;
        proxy_hide_header x-amz-delete-marker;
        proxy_hide_header x-amz-expiration;
        proxy_hide_header x-amz-restore;
        proxy_hide_header x-amz-server-side-encryption;
        proxy_hide_header x-amz-storage-class;
        proxy_hide_header x-amz-replication-status;
        proxy_hide_header x-amz-tagging-count;
        proxy_hide_header x-amz-object-lock-mode;
        proxy_hide_header x-amz-object-lock-retain-until-date;
        proxy_hide_header x-amz-object-lock-legal-hold;
        proxy_hide_header x-amz-website-redirect-location;
        proxy_hide_header x-amz-mp-parts-count;
        proxy_hide_header x-amz-checksum-crc32;
        proxy_hide_header x-amz-checksum-crc32c;
        proxy_hide_header x-amz-checksum-sha1;
        proxy_hide_header x-amz-checksum-sha256;
        # S3's XML error bodies name buckets and keys: answer with plain pages instead.
        proxy_intercept_errors on;
        # S3 says 403 for a missing key when listing is not allowed: both mean "not found".
        error_page 403 404 =404 @not_found;
        error_page 500 502 503 504 =502 @unavailable;

        location = /healthz {
            access_log off;
            default_type text/plain;
            return 200 "ok";
        }

        # A bare bucket URL would be a ListObjects call: never list a bucket.
        location = /media/ {
            return 404;
        }
        location = /static/ {
            return 404;
        }

        location /media/ {
            # Only the object path reaches S3: no ?acl, ?tagging or other sub-resources.
            set $args "";
            proxy_pass http://s3/m-bucket/;
            # Uploads can be replaced under the same name: an hour in the cache and in browsers.
            proxy_cache_valid 200 1h;
            # HIT / MISS / STALE / UPDATING / REVALIDATED: shows whether S3 was asked.
            add_header X-Cache-Status $upstream_cache_status always;
            # Browsers must take the Content-Type S3 stored, never guess one (uploads are untrusted).
            add_header X-Content-Type-Options nosniff always;
            add_header Cache-Control "public, max-age=3600";
            # Opened directly, an uploaded SVG or HTML file runs no script.
            add_header Content-Security-Policy "sandbox" always;
        }

        location /static/ {
            set $args "";
            proxy_pass http://s3/s-bucket/;
            # collectstatic names files by content hash: a name never changes content.
            proxy_cache_valid 200 365d;
            # HIT / MISS / STALE / UPDATING / REVALIDATED: shows whether S3 was asked.
            add_header X-Cache-Status $upstream_cache_status always;
            # Browsers must take the Content-Type S3 stored, never guess one (uploads are untrusted).
            add_header X-Content-Type-Options nosniff always;
            add_header Cache-Control "public, max-age=31536000, immutable";
            # Fonts and JS modules loaded from the site's pages need CORS; these files are public.
            add_header Access-Control-Allow-Origin "*";
        }

        # Private files (ticket PDFs, originals): only with a URL Django presigned for an authorised user
        # (SigV4 query string, valid 120 s). The bucket allows no anonymous read, so a
        # URL without a valid signature gets S3's 403, answered below as a plain 404.
        location = /private/tiers-private/ {
            return 404;
        }
        location ^~ /private/tiers-private/ {
            # "/private" is stripped; the rest of the path and the whole query string reach S3 unchanged
            # (keys are random hex names, so normalisation cannot alter them), with the Host set above:
            # exactly the request that was signed.
            proxy_pass http://s3/tiers-private/;
            # Each URL belongs to one user and expires: nothing is cached, here or in the browser.
            proxy_cache off;
            # HIT / MISS / STALE / UPDATING / REVALIDATED: shows whether S3 was asked.
            add_header X-Cache-Status $upstream_cache_status always;
            # Browsers must take the Content-Type S3 stored, never guess one (uploads are untrusted).
            add_header X-Content-Type-Options nosniff always;
            add_header Cache-Control "private, no-store" always;
            add_header Content-Security-Policy "sandbox" always;
        }
        location ^~ /private/ {
            return 404;
        }

        # No route to Django, nor to anything else.
        location / {
            return 404;
        }

        location @not_found {
            # HIT / MISS / STALE / UPDATING / REVALIDATED: shows whether S3 was asked.
            add_header X-Cache-Status $upstream_cache_status always;
            # Browsers must take the Content-Type S3 stored, never guess one (uploads are untrusted).
            add_header X-Content-Type-Options nosniff always;
            default_type text/plain;
            return 404 "not found\n";
        }

        location @unavailable {
            # HIT / MISS / STALE / UPDATING / REVALIDATED: shows whether S3 was asked.
            add_header X-Cache-Status $upstream_cache_status always;
            # Browsers must take the Content-Type S3 stored, never guess one (uploads are untrusted).
            add_header X-Content-Type-Options nosniff always;
            default_type text/plain;
            return 502 "media store unavailable\n";
        }
    }
}
"""
