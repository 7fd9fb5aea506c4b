"""Static files: only the package's own scripts and styles are served, under their exact
names. Every way of walking out of ``comments/static`` — dot segments raw or encoded,
absolute paths, backslashes, NULs, overlong UTF-8 — gets a 404 and none of the file.

Requests are written by hand on a socket: HTTP clients tidy ``..`` away before sending,
which would test the client rather than the server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import comments
from comments.settings import Settings
from tests.conftest import RunningServer

PACKAGE = Path(comments.__file__).resolve().parent
REAL_ASSET = PACKAGE / "static" / "moderation.js"

TARGETS = [
    pytest.param("/static/../../etc/passwd", id="dotdot"),
    pytest.param("/static/../settings.py", id="dotdot-package-file"),
    pytest.param("/static/../../../../../../etc/passwd", id="dotdot-deep"),
    pytest.param("/static/..%2f..%2fsettings.py", id="encoded-slash"),
    pytest.param("/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd", id="encoded-slash-upper"),
    pytest.param("/static/%2e%2e/%2e%2e/etc/passwd", id="encoded-dots"),
    pytest.param("/static/%2e%2e%2f%2e%2e%2fsettings.py", id="all-encoded"),
    pytest.param("/static/%252e%252e/%252e%252e/settings.py", id="double-encoded"),
    pytest.param("/static/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", id="overlong-utf8"),
    pytest.param("/static/....//....//etc/passwd", id="four-dots"),
    pytest.param("/static/demo/../moderation.js", id="dotdot-inside-static"),
    pytest.param("/static/demo/../../cli.py", id="dotdot-via-subfolder"),
    pytest.param("/static//etc/passwd", id="absolute"),
    pytest.param("/static/%2fetc%2fpasswd", id="absolute-encoded"),
    pytest.param(f"/static/{REAL_ASSET}", id="absolute-path-of-a-real-asset"),
    pytest.param(f"/static/%2f{str(REAL_ASSET)[1:]}", id="absolute-encoded-real-asset"),
    pytest.param("/static/..\\..\\settings.py", id="backslashes"),
    pytest.param("/static/..%5c..%5csettings.py", id="encoded-backslashes"),
    pytest.param("/static/moderation.js%00.css", id="nul-suffix"),
    pytest.param("/static/%00moderation.js", id="nul-prefix"),
    pytest.param("/static/~/.ssh/id_rsa.js", id="home"),
    pytest.param("/static/file:///etc/passwd", id="url-scheme"),
    pytest.param("/static/moderation.html", id="template-not-under-static"),
    pytest.param("/static/../static/../cli.py", id="back-and-forth"),
    pytest.param("/static/", id="folder"),
    pytest.param("/static/demo", id="subfolder"),
    pytest.param("/embed.js/..", id="embed-dotdot"),
    pytest.param("/embed.js/../count.js", id="embed-dotdot-sibling"),
    pytest.param("/count.js%2f..%2f..%2fsettings.py", id="count-encoded"),
    pytest.param("/moderation/../static/moderation.js", id="console-dotdot"),
]


async def raw_get(port: int, target: str) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.fixture
async def server(sqlite_url: str, start_server: Any) -> RunningServer:
    running: RunningServer = await start_server(
        Settings(database_url=sqlite_url, classifier="profanity-check", recover_interval_s=0)
    )
    return running


def secrets_of_this_host() -> list[bytes]:
    """Recognisable pieces of what a traversal could reach."""
    pieces = [b"root:", b"COMMENTS_", b"def ", b"import ", b"-----BEGIN"]
    pieces.append(REAL_ASSET.read_bytes()[:60])
    return pieces


@pytest.mark.parametrize("target", TARGETS)
async def test_traversal_is_refused(server: RunningServer, target: str) -> None:
    status, headers, body = await raw_get(server.port, target)
    assert status == 404, body[:200]
    assert headers["content-type"].startswith("application/json")
    for piece in secrets_of_this_host():
        assert piece not in body, piece


async def test_the_real_files_are_served(server: RunningServer) -> None:
    """The control: the same requests with honest paths succeed."""
    for target, first_bytes in (
        ("/static/moderation.js", REAL_ASSET.read_bytes()[:60]),
        ("/static/demo/demo.css", (PACKAGE / "static/demo/demo.css").read_bytes()[:60]),
        ("/embed.js", (PACKAGE / "static/embed.js").read_bytes()[:60]),
    ):
        status, headers, body = await raw_get(server.port, target)
        assert status == 200, target
        assert body.startswith(first_bytes)
        assert headers["x-content-type-options"] == "nosniff"
