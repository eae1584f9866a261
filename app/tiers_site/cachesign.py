"""What memcached holds: signed JSON, never a pickle. Pure (no Django set up), so it is unit-tested alone.

Django's PyMemcacheCache stores every value with pymemcache's ``pickle_serde``, so whoever reaches a cache
node's port could plant a pickle that a web node would unpickle (code execution), or rewrite a session to
log in as anyone. ``SignedJsonSerde`` replaces it:

- a value is stored as ``<mac>.<json>`` with flag ``FLAG_SIGNED_JSON``; the MAC is HMAC-SHA256 over the
  memcached key and the JSON text, with a key derived from SECRET_KEY (``signing_key``), so an entry copied
  to another key is refused as well as a forged one;
- a plain ``int`` is stored as its digits (flag ``FLAG_INTEGER``, as pymemcache does), because memcached's
  own ``incr``/``decr`` (login throttling counters) work only on those; an int can do no harm beyond its
  value, and whoever can write an entry could as well delete it;
- on read, anything else (a bad MAC, a pickle flag, bytes that are not JSON) is a miss: ``None``, logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

log = logging.getLogger(__name__)

FLAG_INTEGER = 1 << 1  # pymemcache's value, so ints written by either serde read the same
FLAG_SIGNED_JSON = 1 << 8  # ours: no pymemcache flag uses this bit
_SEP = b"."


def signing_key(secret_key: str) -> bytes:
    """The cache's MAC key: derived from SECRET_KEY for this one purpose (never SECRET_KEY itself)."""
    return hmac.new(secret_key.encode(), b"tiers.cache-signing.v1", hashlib.sha256).digest()


def _key_bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else key


class SignedJsonSerde:
    """pymemcache serde: ``serialize(key, value) -> (bytes, flags)``, ``deserialize(key, bytes, flags)``."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, key: str | bytes, payload: bytes) -> bytes:
        mac = hmac.new(self._key, _key_bytes(key) + b"\0" + payload, hashlib.sha256)
        return mac.hexdigest().encode()

    def serialize(self, key: str | bytes, value: Any) -> tuple[bytes, int]:
        if type(value) is int:
            return str(value).encode(), FLAG_INTEGER
        try:
            payload = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise TypeError(f"cache values must be JSON (a {type(value).__name__} is not): {exc}") from None
        return self._mac(key, payload) + _SEP + payload, FLAG_SIGNED_JSON

    def deserialize(self, key: str | bytes, value: bytes, flags: int) -> Any:
        if flags == FLAG_INTEGER:
            try:
                return int(value)
            except ValueError:
                return self._refuse(key, "an integer entry that is not a number")
        if flags != FLAG_SIGNED_JSON:
            return self._refuse(key, f"flags {flags} (not signed JSON, e.g. a pickle)")
        mac, sep, payload = value.partition(_SEP)
        if not sep or not hmac.compare_digest(mac, self._mac(key, payload)):
            return self._refuse(key, "a bad signature")
        return json.loads(payload)

    @staticmethod
    def _refuse(key: str | bytes, why: str) -> None:
        log.warning("cache entry %r refused: %s", _key_bytes(key)[:80], why)
        return None
