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
from tests.unit.golden import assert_golden

TOPOLOGY = VARIED_TOPOLOGY

PATHS = StatePaths(root=Path("/state"), repo=Path("/repo"))


def topo(text: str = TOPOLOGY) -> Topology:
    return loads(text, "unit.toml")


def location(config: str, match: str) -> str:
    """The body of ``location <match> {`` (locations here hold no nested blocks)."""
    return config.split(f"location {match} {{\n")[1].split("}")[0]


def test_media_config_is_pinned() -> None:
    assert_golden("nginx-media.conf", render_media(topo(), PATHS))


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
    # Its own log and run folders, and its data dir: every one the media account's, none root's.
    assert [(d.path, d.owner, d.mode) for d in dirs] == [
        (Path("/state/log/cdn"), "tiers-media", 0o750),
        (Path("/state/run/cdn"), "tiers-media", 0o755),
        (Path("/state/data/cdn"), "tiers-media", 0o700),
    ]


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


def test_https_listener_with_h2_and_hsts_on_https_only() -> None:
    config = render_media(topo(), PATHS)
    assert "        listen 10.0.4.2:443 ssl http2 default_server;\n" in config
    assert "        ssl_certificate /state/tls/cdn.pem;\n" in config
    assert 'https "max-age=600";' in config
    # Every location that sets headers repeats HSTS (nginx does not inherit add_header into them).
    for match in ("/media/", "/static/"):
        assert "add_header Strict-Transport-Security $hsts always;" in location(config, match)
    assert "return 301" not in config


def test_production_redirects_plain_http_but_healthz() -> None:
    config = render_media(
        topo(TOPOLOGY.replace('name = "unit"', 'name = "unit"\nprofile = "production"')), PATHS
    )
    assert '"http:/healthz" 0;' in config
    assert "return 301 https://$host$request_uri;" in config
