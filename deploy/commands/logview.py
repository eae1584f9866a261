"""`make logs`: the recent lines of every node's log, merged into one time-sorted view.

Each program writes its own format; :func:`stamp` reads the time (and :func:`level` the severity) of the
ones a cluster runs: Django's and etcd's JSON lines, PostgreSQL and PgBouncer, Patroni, HAProxy's access log,
nginx's error log and SeaweedFS's glog lines. A line with no time of its own (a traceback, a continued
message) keeps the time of the line before it, so it stays with its message. Pure functions but
:func:`tail_lines`, which reads a file's end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LEVELS = ("debug", "info", "warning", "error")
DEFAULT_WIDTH = 240
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"), start=1)}  # fmt: skip

# PostgreSQL / PgBouncer "2026-12-04 17:09:22.123 UTC", Patroni "2026-12-04 17:09:22,123", nginx "2026/12/04 17:09:22"
_ISO = re.compile(r"^(\d{4})[-/](\d\d)[-/](\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,6}))?")
# HAProxy's access line: "127.0.0.1:60896 [04/Dec/2026:17:09:22.037] ..."
_HAPROXY = re.compile(r"\[(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?\]")
# glog (SeaweedFS): "I1204 17:09:22.123456 ..." (no year: this year's)
_GLOG = re.compile(r"^([IWEF])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?")
_WORDS = {
    "error": ("ERROR", "FATAL", "PANIC", "CRITICAL", "[error]", "[crit]", "[alert]", "[emerg]", "Traceback"),
    "warning": ("WARNING", "WARN", "[warn]"),
    "debug": ("DEBUG", "[debug]"),
}


@dataclass(frozen=True)
class Line:
    when: datetime
    node: str
    text: str
    level: str


def _dt(y: int, mo: int, d: int, h: int, mi: int, s: int, frac: str | None) -> datetime:
    micro = int((frac or "0").ljust(6, "0")[:6])
    return datetime(y, mo, d, h, mi, s, micro, tzinfo=UTC)


def _json(text: str) -> dict | None:
    """A JSON log line's object (Django's, etcd's), else None."""
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# A JSON line's level word as one of LEVELS (words it does not know read as info).
_JSON_LEVELS = {"trace": "debug", "debug": "debug", "info": "info", "notice": "info", "warn": "warning",
                "warning": "warning", "error": "error", "critical": "error", "fatal": "error", "panic": "error",
                "dpanic": "error"}  # fmt: skip


def stamp(text: str, year: int, data: dict | None = None) -> datetime | None:
    """The time a log line carries, or None (times without a zone are taken as UTC, as the nodes log).
    ``data``: the line's JSON object when the caller parsed it already."""
    data = data if data is not None else _json(text)
    if data is not None:
        value = data.get("time") or data.get("ts") or data.get("timestamp")
        if isinstance(value, str) and (m := _ISO.match(value)):
            return _dt(*map(int, m.groups()[:6]), m.group(7))
    if m := _ISO.match(text):
        return _dt(*map(int, m.groups()[:6]), m.group(7))
    if m := _GLOG.match(text):
        return _dt(year, int(m.group(2)), int(m.group(3)), *map(int, m.groups()[3:6]), m.group(7))
    if m := _HAPROXY.search(text[:80]):
        return _dt(
            int(m.group(3)), _MONTHS[m.group(2)], int(m.group(1)), *map(int, m.groups()[3:6]), m.group(7)
        )
    return None


def level(text: str, data: dict | None = None) -> str:
    """One of LEVELS: the JSON line's level, a glog letter, or the first severity word."""
    data = data if data is not None else _json(text)
    if data is not None and isinstance(data.get("level"), str):
        return _JSON_LEVELS.get(data["level"].lower(), "info")
    if _GLOG.match(text):
        return {"I": "info", "W": "warning"}.get(text[0], "error")
    head = text[:160]
    for name, words in _WORDS.items():
        if any(w in head for w in words):
            return name
    return "info"


def parse(node: str, lines: Iterable[str], year: int) -> list[Line]:
    """A node's lines with their times; a line without one takes the time (and level) of the line before."""
    out: list[Line] = []
    for text in lines:
        text = text.rstrip("\n")
        if not text.strip():
            continue
        data = _json(text)  # read once, for the time and the level
        when = stamp(text, year, data)
        if when is None and out:
            out.append(Line(out[-1].when, node, text, out[-1].level))
        elif when is not None:
            out.append(Line(when, node, text, level(text, data)))
    return out


def merged(per_node: dict[str, list[Line]], lines: int, min_level: str = "debug") -> list[Line]:
    """The newest ``lines`` lines of every node at ``min_level`` or above, oldest first (stable by node)."""
    floor = LEVELS.index(min_level)
    chosen = [ln for ls in per_node.values() for ln in ls if LEVELS.index(ln.level) >= floor]
    chosen.sort(key=lambda ln: ln.when)
    return chosen[-lines:] if lines else chosen


def cut(text: str, width: int) -> str:
    """One line at most ``width`` characters, saying how much was left out."""
    if width <= 0 or len(text) <= width:
        return text
    return f"{text[:width]} ... (+{len(text) - width} chars)"


def render(lines: list[Line], width: int = DEFAULT_WIDTH) -> str:
    name_width = max((len(ln.node) for ln in lines), default=0)
    return "\n".join(
        f"{ln.when:%Y-%m-%d %H:%M:%S.%f}"[:-3]
        + f" {ln.node:<{name_width}} {ln.level[:4].upper():<4} {cut(ln.text, width)}"
        for ln in lines
    )


def tail_lines(path: Path, lines: int, chunk: int = 256 * 1024) -> list[str]:
    """The last ``lines`` lines of a file, read from its end (logs run to megabytes)."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - chunk))
        data = fh.read().decode("utf-8", "replace")
    rows = data.splitlines()
    if size > chunk:
        rows = rows[1:]  # the first may be cut in the middle
    return rows[-lines:]
