"""SESSION_ENGINE: Django's ``cached_db`` with cache keys that do not reveal the session key.

The database row stays the source of truth (a lost cache node costs a query, not a logout). What
memcached holds is signed JSON (tiers_site.cache); on top of that its key is a SHA-256 of the session
key, so a listing of the cache's keys (``lru_crawler metadump all``) gives nothing to put in a cookie.
"""

from __future__ import annotations

import hashlib

from django.contrib.sessions.backends import cached_db, db

KEY_PREFIX = "tiers.session."


def cache_key_for(session_key: str) -> str:
    return KEY_PREFIX + hashlib.sha256(session_key.encode()).hexdigest()


class SessionStore(cached_db.SessionStore):
    cache_key_prefix = KEY_PREFIX

    @property
    def cache_key(self) -> str:
        return cache_key_for(self._get_or_create_session_key())

    async def acache_key(self) -> str:
        return cache_key_for(await self._aget_or_create_session_key())

    # cached_db's own versions build the raw "prefix + session key" cache key: replaced, each going to
    # the database store for the rest.
    def exists(self, session_key: str) -> bool:
        return (bool(session_key) and cache_key_for(session_key) in self._cache) or db.SessionStore.exists(
            self, session_key
        )

    async def aexists(self, session_key: str) -> bool:
        if session_key and await self._cache.ahas_key(cache_key_for(session_key)):
            return True
        return await db.SessionStore.aexists(self, session_key)

    def delete(self, session_key: str | None = None) -> None:
        db.SessionStore.delete(self, session_key)
        key = self.session_key if session_key is None else session_key
        if key:
            self._cache.delete(cache_key_for(key))

    async def adelete(self, session_key: str | None = None) -> None:
        await db.SessionStore.adelete(self, session_key)
        key = self.session_key if session_key is None else session_key
        if key:
            await self._cache.adelete(cache_key_for(key))
