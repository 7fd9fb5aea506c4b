"""``COMMENTS_LOG_JSON=true``: `comments serve` writes one JSON object per line (time,
level, logger, message, and exc_info when there is one), which log collectors read
without guessing where a multi-line traceback ends."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from comments.observability.logs import JsonFormatter, setup_logging
from comments.settings import Settings
from tests.conftest import Node, free_port

KEYS = {"time", "level", "logger", "message"}


def records(text: str) -> list[dict[str, Any]]:
    """Every line as a JSON object (a line that is not one fails the test)."""
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(entry, dict), line
        assert set(entry) >= KEYS, line
        datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))
        out.append(entry)
    return out


@pytest.fixture
def root_logging() -> Iterator[None]:
    """setup_logging configures the process's root logger: give pytest's back after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    alembic = logging.getLogger("alembic").level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(alembic)


def test_json_lines_carry_time_level_logger_message_and_traceback(root_logging: None) -> None:
    out = io.StringIO()
    setup_logging(Settings(log_json=True), out)
    log = logging.getLogger("comments.test")
    log.info("posted %d comment(s) to %s", 2, "2025/07/lavrov-kim")
    log.warning('two\nlines, «non-ASCII» and "quotes"')
    try:
        {}["missing"]
    except KeyError:
        log.exception("lookup failed")
    logging.getLogger("alembic.runtime").info("plugins loaded")  # quiet below WARNING

    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # one line each, whatever the message holds
    info, warning, error = records(out.getvalue())
    assert info == {
        "time": info["time"],
        "level": "INFO",
        "logger": "comments.test",
        "message": "posted 2 comment(s) to 2025/07/lavrov-kim",
    }
    assert info["time"].endswith("Z")
    assert warning["message"] == 'two\nlines, «non-ASCII» and "quotes"'
    assert "exc_info" not in warning
    assert error["level"] == "ERROR" and error["message"] == "lookup failed"
    assert error["exc_info"].startswith("Traceback (most recent call last):")
    assert "KeyError: 'missing'" in error["exc_info"]


def test_without_the_option_lines_stay_plain_text(root_logging: None) -> None:
    out = io.StringIO()
    setup_logging(Settings(log_json=False), out)
    logging.getLogger("comments.test").warning("hello")
    (line,) = out.getvalue().splitlines()
    assert line.endswith(" WARNING comments.test: hello")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_formatter_keeps_a_cached_traceback() -> None:
    """Records formatted once by another handler carry exc_text instead of exc_info."""
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
    record.exc_text = "Traceback (most recent call last):\nValueError: boom"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["exc_info"].endswith("ValueError: boom")


def test_the_option_is_read_from_the_environment() -> None:
    assert Settings.from_env({"COMMENTS_LOG_JSON": "true"}).log_json is True
    assert Settings.from_env({}).log_json is False


async def test_serve_writes_json_lines(start_node: Callable[..., Node]) -> None:
    node = start_node({"COMMENTS_LOG_JSON": "true", "COMMENTS_CLASSIFIER": "profanity-check"})
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/api/v1/sites/nope/counts")).status_code == 404
    node.stop()
    entries = records(node.log.read_text())
    loggers = {e["logger"] for e in entries}
    assert {"uvicorn.error", "uvicorn.access", "comments.scoring"} <= loggers
    access = [e["message"] for e in entries if e["logger"] == "uvicorn.access"]
    assert any('"GET /healthz HTTP/1.1" 200' in m for m in access), access
    assert any('"GET /api/v1/sites/nope/counts HTTP/1.1" 404' in m for m in access), access
    assert any(e["message"] == "Application startup complete." for e in entries)


def test_a_node_that_cannot_start_says_why_in_one_json_line(tmp_path: Path) -> None:
    """PostgreSQL unreachable at start: the traceback is one line an alert can match."""
    env = {
        **os.environ,
        "COMMENTS_LOG_JSON": "true",
        "COMMENTS_CLASSIFIER": "profanity-check",
        # A port nothing listens on: connection refused at once.
        "COMMENTS_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/comments",
    }
    done = subprocess.run(
        [sys.executable, "-m", "comments", "serve", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    entries = records(done.stdout + done.stderr)
    errors = [e for e in entries if e["level"] == "ERROR"]
    assert any("StoreUnavailable" in e["message"] + e.get("exc_info", "") for e in errors), errors
    assert any(e["message"] == "Application startup failed. Exiting." for e in errors)
