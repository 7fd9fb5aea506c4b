"""What peers do wrong on sockets is theirs, not the server's: a refused handshake and a
protocol error are logged at INFO, without a traceback, and the socket is closed with the
right code. ERROR stays for the server's own faults, so an alert on it means something."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from comments.settings import Settings
from tests.conftest import RunningServer, add_site, wait_until
from tests.security.test_socket_flood import Flood, masked, open_socket, read_to_the_end

StartServer = Callable[..., Awaitable[RunningServer]]
TEXT, BINARY = 0x1, 0x2


@pytest.fixture
async def server(sqlite_url: str, channel_prefix: str, start_server: StartServer) -> RunningServer:
    await add_site(sqlite_url)
    settings = Settings(
        database_url=sqlite_url,
        channel_prefix=channel_prefix,
        classifier="profanity-check",
        max_sockets_per_ip=2,
    )
    return await start_server(settings)


def capture_info(caplog: pytest.LogCaptureFixture) -> None:
    # The test server runs uvicorn at "warning"; a node runs at INFO.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="uvicorn.error")


def loud(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records an operator would be paged for, or would have to read a traceback in."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


async def test_refused_handshakes_are_logged_at_info(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    capture_info(caplog)
    base = server.ws_url
    refusals = {
        403: (f"{base}/ws/v1/sites/news/articles/a", {"origin": "https://evil.example"}),
        404: (f"{base}/ws/v1/sites/nope/articles/a", {}),
        401: (f"{base}/ws/v1/moderation/sites/news", {}),
    }
    for status, (url, options) in refusals.items():
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(url, **options)
        assert refused.value.response.status_code == status
    # Over the per-address cap (2): 429.
    url = f"{base}/ws/v1/sites/news/articles/a"
    async with websockets.connect(url), websockets.connect(url):
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(url)
        assert refused.value.response.status_code == 429

    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    for status in (401, 403, 404, 429):
        assert any(m.endswith(f'" {status}') for m in info), (status, info)
    assert loud(caplog) == []


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (masked(TEXT, b"caf\xc3"), 1007),  # a text message that is not UTF-8
        (masked(TEXT, b"\xff\xfe"), 1007),
        (masked(TEXT | 0x40, b"x"), 1002),  # a reserved bit set
        (bytes((0x81, 0x01)) + b"x", 1002),  # not masked
        (masked(0x3, b"x"), 1002),  # an opcode that does not exist
        (bytes((0x09, 0x81)) + b"\0\0\0\0x", 1002),  # a ping without FIN: fragmented
    ],
    ids=["utf8-cut", "utf8-bad", "reserved-bit", "unmasked", "bad-opcode", "fragmented-ping"],
)
async def test_protocol_errors_close_the_socket_and_log_at_info(
    server: RunningServer, caplog: pytest.LogCaptureFixture, frame: bytes, code: int
) -> None:
    capture_info(caplog)
    sock = await asyncio.to_thread(open_socket, server.port)
    with contextlib.closing(sock):
        await wait_until(lambda: server.node.hub.sockets == 1)
        sock.sendall(frame)
        flood = Flood()
        await asyncio.to_thread(read_to_the_end, sock, flood)
    assert flood.ended and flood.close_codes == [code], flood.received
    await wait_until(lambda: server.node.hub.sockets == 0)
    closing = [r for r in caplog.records if r.name == "comments.ws"]
    assert [r.levelno for r in closing] == [logging.INFO], caplog.text
    assert f"({code})" in closing[0].getMessage()
    assert loud(caplog) == []
    # The node still serves sockets.
    with contextlib.closing(await asyncio.to_thread(open_socket, server.port)):
        pass
