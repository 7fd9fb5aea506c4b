"""Logging for ``comments serve``: readable lines, or one JSON object per line for log
collectors (``COMMENTS_LOG_JSON=true``)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from comments.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _utc(created: float) -> str:
    at = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return at.replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"}``, plus ``exc_info`` (the formatted
    traceback) when the record carries one and ``stack_info`` when asked for. Newlines
    inside are escaped by JSON, so every record stays on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Configure the root logger once for the process (uvicorn's loggers propagate to it:
    ``comments serve`` passes ``log_config=None``)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Alembic narrates every plugin it loads; only its problems interest an operator.
    logging.getLogger("alembic").setLevel(logging.WARNING)
