"""S3 storages with short timeouts, so a dead object store degrades pages instead of hanging them."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

from botocore.config import Config
from storages.backends.s3 import S3ManifestStaticStorage, S3Storage

log = logging.getLogger(__name__)


def client_config(settings: dict[str, Any] | None = None) -> Config:
    # One attempt, 1 s to connect: an upload fails with a clear error rather than a stuck worker.
    # A client_config makes django-storages ignore its own addressing_style/signature_version options,
    # so they are carried over here (presigned private URLs must be SigV4 and path-style locally).
    settings = settings or {}
    return Config(
        connect_timeout=1,
        read_timeout=5,
        retries={"max_attempts": 1, "mode": "standard"},
        s3={"addressing_style": settings.get("addressing_style") or "auto"},
        signature_version=settings.get("signature_version") or "s3v4",
    )


def via_media_host(signed_url: str, public_url: str) -> str:
    """A presigned S3 URL re-rooted on the media host: ``http://s3:8333/bucket/key?X-Amz-...`` ->
    ``http://media:8080/private/bucket/key?X-Amz-...``. The path after the prefix and the query are kept
    byte for byte: nginx strips ``/private`` and sends the rest to S3 with the Host the URL was signed for,
    so the signature still matches."""
    signed = urlsplit(signed_url)
    query = f"?{signed.query}" if signed.query else ""
    return public_url.rstrip("/") + signed.path + query


class MediaStorage(S3Storage):
    """User uploads (event images) in the media bucket, served by the nginx media host."""

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("client_config", client_config(settings))
        super().__init__(**settings)


class PrivateStorage(S3Storage):
    """Ticket PDFs and original uploads, in a bucket nobody reads anonymously.

    ``url()`` is a short-lived presigned GET (``querystring_expire`` seconds) routed through the media host
    (``public_url``, e.g. ``http://media:8080/private/``): only hand it to a user Django has authorised.
    """

    def __init__(self, **settings: Any) -> None:
        self.public_url: str = settings.pop("public_url", "")
        settings.setdefault("client_config", client_config(settings))
        super().__init__(**settings)

    def url(self, name: str, parameters: Any = None, expire: Any = None, http_method: Any = None) -> str:
        signed = super().url(name, parameters=parameters, expire=expire, http_method=http_method)
        return via_media_host(signed, self.public_url) if self.public_url else signed


class StaticStorage(S3ManifestStaticStorage):
    """collectstatic's hashed files in the static bucket.

    Rendering a page must not depend on S3 being up: if the manifest cannot be read, URLs fall back to
    unhashed names and the manifest is retried every RETRY_SECONDS.
    """

    manifest_strict = False
    RETRY_SECONDS = 30.0

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("client_config", client_config(settings))
        self._manifest_failed_at: float | None = None
        super().__init__(**settings)

    def load_manifest(self) -> tuple[dict[str, str], str]:
        try:
            loaded = super().load_manifest()
        except Exception as exc:  # botocore errors, timeouts, a corrupt manifest
            log.warning("static manifest unavailable, serving unhashed names: %s", exc)
            self._manifest_failed_at = time.monotonic()
            return {}, ""
        self._manifest_failed_at = None
        return loaded

    def stored_name(self, name: str) -> str:
        failed_at = self._manifest_failed_at
        if failed_at is not None and time.monotonic() - failed_at > self.RETRY_SECONDS:
            self.hashed_files, self.manifest_hash = self.load_manifest()
        if self._manifest_failed_at is not None or not self.hashed_files:
            return name  # no manifest (S3 down, or collectstatic not run yet): never hash on the fly
        try:
            return super().stored_name(name)
        except Exception as exc:  # not in the manifest and S3 cannot hash it: plain name, page renders
            log.warning("static file %s not in manifest: %s", name, exc)
            return name
