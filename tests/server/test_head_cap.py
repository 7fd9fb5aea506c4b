"""A request head over 32 KiB is answered 431 however it arrives: in one read (which the
parser would take whole), in many small ones, after another request on the same
connection, or pipelined behind one; a head under the cap is served."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

import pytest

from comments.server.http_protocol import MAX_HEAD_BYTES
from comments.settings import Settings
from tests.conftest import RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]
PIECE = 1024


def head(size: int, *, shape: str = "many") -> bytes:
    """A GET /healthz head of exactly ``size`` bytes: padded with one long header, or
    with many of about a kilobyte (as cookies add up)."""
    start = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    end = b"\r\n"
    room = size - len(start) - len(end)
    lines = []
    i = 0
    while room > 0:
        name = b"X-Pad-%d: " % i
        overhead = len(name) + 2
        # One header takes all that is left when asked, or when a kilobyte would leave
        # less than a header's overhead behind.
        take = room if shape == "one" or room - (PIECE + overhead) < 20 else PIECE + overhead
        lines.append(name + b"v" * (take - overhead) + b"\r\n")
        room -= take
        i += 1
    data = start + b"".join(lines) + end
    assert len(data) == size
    return data


async def exchange(port: int, data: bytes, *, piece: int | None = None) -> bytes:
    """Send ``data`` (in one write, or ``piece`` bytes at a time) and read what comes
    back until the server closes the connection, or for 10 s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = b""
    try:
        with contextlib.suppress(ConnectionError):
            pieces = (
                [data]
                if piece is None
                else [data[i : i + piece] for i in range(0, len(data), piece)]
            )
            for part in pieces:
                writer.write(part)
                await writer.drain()
        with contextlib.suppress(ConnectionError, TimeoutError):
            while chunk := await asyncio.wait_for(reader.read(65536), 10):
                answer += chunk
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return answer


def statuses(answer: bytes) -> list[tuple[int, bytes]]:
    """Each response's status and body, in order."""
    found = []
    while answer:
        top, _, rest = answer.partition(b"\r\n\r\n")
        status = int(top.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in top.split(b"\r\n")[1:]
            if line.lower().startswith(b"content-length:")
        )
        found.append((status, rest[:length]))
        answer = rest[length:]
    return found


def refused(response: tuple[int, bytes]) -> bool:
    status, body = response
    return status == 431 and json.loads(body)["error"]["code"] == "headers_too_large"


@pytest.fixture
async def server(start_server: StartServer) -> RunningServer:
    return await start_server(Settings(classifier="profanity-check"))


@pytest.mark.parametrize("size", [40_000, 120_000])
@pytest.mark.parametrize("shape", ["one", "many"])
@pytest.mark.parametrize("piece", [None, PIECE], ids=["one-write", "small-writes"])
async def test_a_head_over_the_cap_is_431_however_it_arrives(
    server: RunningServer, size: int, shape: str, piece: int | None
) -> None:
    answer = await exchange(server.port, head(size, shape=shape), piece=piece)
    (response,) = statuses(answer)
    assert refused(response), response


@pytest.mark.parametrize("piece", [None, PIECE], ids=["one-write", "small-writes"])
async def test_a_head_under_the_cap_is_served(server: RunningServer, piece: int | None) -> None:
    data = head(30_000)
    assert len(data) < MAX_HEAD_BYTES
    data = data.replace(b"Host:", b"Connection: close\r\nHost:")
    answer = await exchange(server.port, data, piece=piece)
    ((status, _),) = statuses(answer)
    assert status == 200


async def test_the_cap_holds_for_every_request_on_a_connection(server: RunningServer) -> None:
    """The second request of a keep-alive connection, and one pipelined behind another in
    the same write, are capped as the first is."""
    small = head(200)
    big = head(40_000)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    rest = b""
    try:
        writer.write(small)
        await writer.drain()
        top = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(top.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        first = statuses(top + await reader.readexactly(length))
        assert [s for s, _ in first] == [200]
        writer.write(big)
        await writer.drain()
        with contextlib.suppress(ConnectionError):
            rest = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    (second,) = statuses(rest)
    assert refused(second), second

    responses = statuses(await exchange(server.port, small + big))
    assert [s for s, _ in responses] == [200, 431], responses
    assert refused(responses[1])
