"""S3 storages with short timeouts, so a dead object store degrades pages instead of hanging them."""

from __future__ import annotations

import logging
import time
from typing import Any

from botocore.config import Config
from storages.backends.s3 import S3ManifestStaticStorage, S3Storage

log = logging.getLogger(__name__)


def client_config() -> Config:
    # One attempt, 1 s to connect: an upload fails with a clear error rather than a stuck worker.
    return Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1, "mode": "standard"})


class MediaStorage(S3Storage):
    """User uploads (event images) in the media bucket, served by the nginx media host."""

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("client_config", client_config())
        super().__init__(**settings)


class StaticStorage(S3ManifestStaticStorage):
    """collectstatic's hashed files in the static bucket.

    Rendering a page must not depend on S3 being up: if the manifest cannot be read, URLs fall back to
    unhashed names and the manifest is retried every RETRY_SECONDS.
    """

    manifest_strict = False
    RETRY_SECONDS = 30.0

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("client_config", client_config())
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
