"""Dependency probes for /readyz, each bounded in time, run in parallel.

Readiness rule (what HAProxy acts on): a node is ready when it can serve reads, i.e. the primary answers
or at least one replica answers and is usable (in recovery, within the lag thresholds, as dbrouter judges). The primary being
down does NOT make the node unready: the site goes read-only and keeps serving pages. Cache nodes and S3
are reported but never fatal (a dead cache is a miss; a dead S3 only breaks uploads and images).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import time
from typing import Any

from django.conf import settings

from dbrouter.status import database_report

log = logging.getLogger(__name__)

# The whole of /readyz, well inside the site LB's 3 s `timeout check` (haproxy/lb.cfg.j2): a slow answer
# would count as a failed check.
DEADLINE_SECONDS = 1.5
CACHE_TIMEOUT = 0.25
S3_TIMEOUT = 1.0

# Shared and bounded: a hung dependency costs at most a few parked threads, never one per request.
_executor = cf.ThreadPoolExecutor(max_workers=16, thread_name_prefix="readyz")


def is_ready(primary_ok: bool, replicas: list[dict[str, Any]]) -> bool:
    """Serve traffic when reads can be served at all (see the module docstring)."""
    return primary_ok or any(r.get("ok") and r.get("state") == "replica" for r in replicas)


def database_checks(deadline: float) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """(primary, replicas, router extras), from dbrouter's report: what routing will actually do.

    The report probes every node in parallel and bounds itself, so it answers before ``deadline`` even
    with a hung node.
    """
    report = database_report(timeout=max(0.05, deadline - time.monotonic() - 0.05))
    extras = {k: v for k, v in report.items() if k not in ("primary", "replicas")}
    return report["primary"], list(report["replicas"]), extras


def probe_cache_node(endpoint: str) -> dict[str, Any]:
    from pymemcache.client.base import Client

    host, _, port = endpoint.rpartition(":")
    client = Client((host.strip("[]"), int(port)), connect_timeout=CACHE_TIMEOUT, timeout=CACHE_TIMEOUT)
    try:
        version = client.version()
        return {"node": endpoint, "ok": True, "version": version.decode() if version else None}
    except Exception as exc:
        return {"node": endpoint, "ok": False, "error": _short(exc)}
    finally:
        client.close()


def cache_nodes() -> list[str]:
    location = settings.CACHES["default"].get("LOCATION")
    if settings.CACHES["default"]["BACKEND"].endswith("PyMemcacheCache"):
        return list(location) if isinstance(location, list | tuple) else [location]
    return []


_s3_client: Any = None


def probe_s3() -> dict[str, Any]:
    global _s3_client
    import boto3
    from botocore.config import Config

    options = settings.STORAGES["default"]["OPTIONS"]
    buckets = [options["bucket_name"], settings.STORAGES["staticfiles"]["OPTIONS"]["bucket_name"]]
    if "private" in settings.STORAGES:  # ticket PDFs and originals (docs/MEDIA.md)
        buckets.append(settings.STORAGES["private"]["OPTIONS"]["bucket_name"])
    started = time.monotonic()
    if _s3_client is None:
        _s3_client = boto3.client(
            "s3",
            endpoint_url=options.get("endpoint_url"),
            region_name=options.get("region_name"),
            aws_access_key_id=options.get("access_key"),
            aws_secret_access_key=options.get("secret_key"),
            config=Config(
                connect_timeout=S3_TIMEOUT,
                read_timeout=S3_TIMEOUT,
                retries={"max_attempts": 1, "mode": "standard"},
                s3={"addressing_style": options.get("addressing_style") or "auto"},
                signature_version="s3v4",
            ),
        )
    state: dict[str, Any] = {"endpoint": options.get("endpoint_url"), "buckets": {}}
    for bucket in buckets:
        try:
            _s3_client.head_bucket(Bucket=bucket)
            state["buckets"][bucket] = "ok"
        except Exception as exc:
            state["buckets"][bucket] = _short(exc)
    state["ok"] = all(v == "ok" for v in state["buckets"].values())
    state["ms"] = _ms(started)
    return state


def readiness() -> tuple[bool, dict[str, Any]]:
    """(ready, body) for /readyz; answers within DEADLINE_SECONDS whatever the dependencies do."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    cache_futures = [(n, _executor.submit(probe_cache_node, n)) for n in cache_nodes()]
    s3_future = _executor.submit(probe_s3)
    primary, replicas, extras = database_checks(deadline)
    cache = [_result(f, deadline, {"node": n, "ok": False, "error": "timeout"}) for n, f in cache_futures]
    s3 = _result(s3_future, deadline, {"ok": False, "error": "timeout"})
    ready = is_ready(bool(primary.get("ok")), replicas)
    body: dict[str, Any] = {
        "node": settings.TIERS_NODE_NAME,
        "ready": ready,
        "read_only": not primary.get("ok"),
        "checks": {"primary": primary, "replicas": replicas, "cache": cache, "s3": s3},
        "router": extras,
    }
    return ready, body


def _result(future: cf.Future[Any], deadline: float, default: Any) -> Any:
    try:
        return future.result(timeout=max(0.0, deadline - time.monotonic()))
    except cf.TimeoutError:
        return default
    except Exception as exc:
        log.warning("readiness probe failed: %s", exc)
        return {**default, "error": _short(exc)} if isinstance(default, dict) else default


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
