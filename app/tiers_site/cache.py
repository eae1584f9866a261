"""The memcached cache backend: connections kept across requests, values stored as signed JSON."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache.backends.memcached import PyMemcacheCache

from tiers_site.cachesign import SignedJsonSerde, signing_key


class PersistentPyMemcacheCache(PyMemcacheCache):
    """Django's PyMemcacheCache without the disconnect at the end of every request, and without pickles.

    Django closes every cache at ``request_finished``; for pymemcache that means ``disconnect_all()``:
    a new TCP connection to each node on every request, and the HashClient forgets which nodes it
    found dead, so each request pays the connect timeout of a dead node again. The client here is
    pooled (``use_pooling``), so it is safe to keep across requests and threads; a broken connection is
    dropped and reopened by pymemcache itself.

    Django's default serde pickles values, and reading an entry unpickles whatever a cache node holds:
    ``SignedJsonSerde`` (tiers_site.cachesign) stores JSON with a MAC and reads a forged entry as a miss.
    """

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._options["serde"] = SignedJsonSerde(signing_key(settings.SECRET_KEY))

    def close(self, **kwargs: Any) -> None:
        pass
