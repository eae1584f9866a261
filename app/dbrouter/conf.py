"""settings.DBROUTER as a RouterConfig: pure (no Django); dbrouter.runtime loads and caches it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PRIMARY_ALIAS = "default"


@dataclass(frozen=True)
class RouterConfig:
    read_aliases: tuple[str, ...] = ()
    max_lag_bytes: int = 4 * 1024 * 1024
    max_lag_seconds: float = 10.0
    lsn_cache_seconds: float = 0.05
    down_seconds: float = 5.0
    connect_timeout: float = 2.0
    primary_alias: str = PRIMARY_ALIAS
    lsn_cookie_name: str = "dbrouter_lsn"
    lsn_cookie_max_age: int = 300
    reads_outside_context: str = "primary"
    primary_models: tuple[str, ...] = ()


# settings key -> (dataclass field, converter)
_KEYS: dict[str, tuple[str, Any]] = {
    "READ_ALIASES": ("read_aliases", lambda v: tuple(str(a) for a in v)),
    "MAX_LAG_BYTES": ("max_lag_bytes", int),
    "MAX_LAG_SECONDS": ("max_lag_seconds", float),
    "LSN_CACHE_SECONDS": ("lsn_cache_seconds", float),
    "DOWN_SECONDS": ("down_seconds", float),
    "CONNECT_TIMEOUT": ("connect_timeout", float),
    "PRIMARY_ALIAS": ("primary_alias", str),
    "LSN_COOKIE_NAME": ("lsn_cookie_name", str),
    "LSN_COOKIE_MAX_AGE": ("lsn_cookie_max_age", int),
    "READS_OUTSIDE_CONTEXT": ("reads_outside_context", str),
    "PRIMARY_MODELS": ("primary_models", lambda v: tuple(str(m).lower() for m in v)),
}


def build_config(raw: Mapping[str, Any], database_aliases: tuple[str, ...] = ()) -> RouterConfig:
    """RouterConfig from a DBROUTER dict; READ_ALIASES defaults to every database alias but the primary."""
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise ValueError(f"DBROUTER: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
    values: dict[str, Any] = {}
    for key, (field, convert) in _KEYS.items():
        if key in raw:
            try:
                values[field] = convert(raw[key])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"DBROUTER[{key!r}]: {exc}") from None
    primary = values.get("primary_alias", PRIMARY_ALIAS)
    if "read_aliases" not in values:
        values["read_aliases"] = tuple(a for a in database_aliases if a != primary)
    if primary in values["read_aliases"]:
        raise ValueError(f"DBROUTER['READ_ALIASES'] must not contain the primary alias {primary!r}")
    if values.get("reads_outside_context", "primary") not in ("primary", "replica"):
        raise ValueError("DBROUTER['READS_OUTSIDE_CONTEXT'] must be 'primary' or 'replica'")
    for field in ("lsn_cache_seconds", "down_seconds", "connect_timeout", "max_lag_seconds", "max_lag_bytes"):
        if field in values and values[field] < 0:
            raise ValueError(f"DBROUTER: {field.upper()} must be >= 0")
    return RouterConfig(**values)
