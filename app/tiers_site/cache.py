"""The memcached cache backend, with connections kept across requests."""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.memcached import PyMemcacheCache


class PersistentPyMemcacheCache(PyMemcacheCache):
    """Django's PyMemcacheCache without the disconnect at the end of every request.

    Django closes every cache at ``request_finished``; for pymemcache that means ``disconnect_all()``:
    a new TCP connection to each node on every request, and the HashClient forgets which nodes it
    found dead, so each request pays the connect timeout of a dead node again. The client here is
    pooled (``use_pooling``), so it is safe to keep across requests and threads; a broken connection is
    dropped and reopened by pymemcache itself.
    """

    def close(self, **kwargs: Any) -> None:
        pass
