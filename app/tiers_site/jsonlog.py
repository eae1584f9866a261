"""One JSON object per log line, carrying the node name and the current request id."""

from __future__ import annotations

import contextvars
import json
import logging
import os
from datetime import UTC, datetime

# Set by health.middleware.RequestContextMiddleware for the duration of a request.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("tiers_request_id", default="-")

_STANDARD_ATTRS = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}
# Objects Django attaches to its records (a request, a socket): noise in a log line.
_SKIPPED_EXTRAS = {"request", "server_time"}


def node_name() -> str:
    return os.environ.get("TIERS_NODE_NAME", "dev")


class RequestContextFilter(logging.Filter):
    """Stamps every record with the request id and node name (never filters anything out)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.node = node_name()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "node": getattr(record, "node", node_name()),
            "request_id": getattr(record, "request_id", request_id_var.get()),
            "msg": record.getMessage(),
        }
        # Structured extras passed with logger.info(..., extra={...}).
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in _SKIPPED_EXTRAS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
