"""PostgreSQL LSNs as 64-bit integers: "16/B374D848" -> (0x16 << 32) | 0xB374D848.

Never compare LSN text: "9/0" > "16/0" as strings, and "0/A" vs "0/9A" breaks on length.
"""

from __future__ import annotations

import re

_MAX_HALF = 0xFFFFFFFF
_LSN_RE = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")


def parse_lsn(text: str) -> int:
    """Parse PostgreSQL's "XXXXXXXX/XXXXXXXX" text form into a 64-bit integer; ValueError if malformed."""
    match = _LSN_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"malformed LSN {text!r}")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(value: int) -> str:
    """The inverse of parse_lsn, in PostgreSQL's own spelling (upper-case hex, no padding)."""
    if value < 0 or value > (_MAX_HALF << 32 | _MAX_HALF):
        raise ValueError(f"LSN out of range: {value}")
    return f"{value >> 32:X}/{value & _MAX_HALF:X}"


def parse_optional(text: str | None) -> int | None:
    """parse_lsn for nullable columns (pg_last_wal_replay_lsn() is NULL on a primary)."""
    return None if text is None else parse_lsn(text)
