"""Abusive clients cannot pin a node: connections that send slowly or nothing are cut
off, request heads and WebSocket messages have size limits, and the node keeps serving
everyone else meanwhile with its memory bounded.

The other abuse cases have tests beside the features they guard: rate limits in
tests/ratelimit and tests/api/test_public.py, duplicates (409) in test_public.py,
sockets per address, silent sockets dropped on missed pongs and slow readers closed
with 1013 in tests/live/test_websocket.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from comments.server.http_protocol import MAX_HEAD_BYTES
from comments.settings import Settings
from tests.conftest import Node, RunningServer, add_site

StartNode = Callable[[dict[str, str]], Node]
ARTICLE = "slow"
THREAD = f"/api/v1/sites/news/articles/{ARTICLE}/comments"
TIMEOUT_S = 2
PACE_S = 0.25
# Far longer than the node allows (TIMEOUT_S): a trickler still sending at the end of
# its sends was never cut off.
MAX_SENDS = 80


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Outcome:
    def __init__(self) -> None:
        self.answer = b""
        self.cut_off = False  # the server ended the connection before the client did


async def send_until_cut_off(
    port: int, first: bytes, piece: bytes, pace_s: float, max_sends: int = MAX_SENDS
) -> Outcome:
    """Send ``first``, then ``piece`` every ``pace_s`` (none if empty), until the server
    closes the connection or ``max_sends`` pieces went out; what the server answered."""
    outcome = Outcome()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def read_all() -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                outcome.answer += data
        outcome.cut_off = True

    reading = asyncio.create_task(read_all())
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(first)
            await writer.drain()
            for _ in range(max_sends):
                await asyncio.wait({reading}, timeout=pace_s)
                if reading.done() or outcome.answer:
                    break
                if piece:
                    writer.write(piece)
                    await writer.drain()
        # Once answered, the close follows: wait for it (a loaded host may take a while);
        # unanswered, a short grace only.
        await asyncio.wait({reading}, timeout=10.0 if outcome.answer else pace_s * 4)
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return outcome


def error_code(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["error"]["code"]


async def test_slow_and_silent_connections_are_cut_off_and_others_still_served(
    sqlite_url: str, channel_prefix: str, start_node: StartNode
) -> None:
    await add_site(sqlite_url)
    node = await asyncio.to_thread(
        start_node,
        {
            "COMMENTS_DATABASE_URL": sqlite_url,
            "COMMENTS_CHANNEL_PREFIX": channel_prefix,
            "COMMENTS_CLASSIFIER": "profanity-check",
            "COMMENTS_REQUEST_TIMEOUT_S": str(TIMEOUT_S),
        },
    )
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
        assert (await http.get("/healthz")).status_code == 200
        before = rss_kib(node.proc.pid)

        slow_head = (
            f"POST {THREAD} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode(),
            b"ab",
        )
        body_head = (
            f"POST {THREAD} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
            '{"author_name": "Slow", "body": "'
        ).encode()
        kinds = {
            "head": (slow_head, 80),
            "body": ((body_head, b"cd"), 80),
            "silent": ((b"", b""), 40),
        }
        tricklers = {
            kind: [
                asyncio.create_task(send_until_cut_off(node.port, first, piece, PACE_S))
                for _ in range(count)
            ]
            for kind, ((first, piece), count) in kinds.items()
        }
        peak = before

        # Everyone else is served meanwhile: reads, a post, a live socket.
        async with websockets.connect(f"{node.ws_url}/ws/v1/sites/news/articles/{ARTICLE}") as ws:
            for i in range(5):
                assert (await http.get("/healthz")).status_code == 200
                r = await http.post(THREAD, json={"body": f"meanwhile {i}", "author_name": "Ana"})
                assert r.status_code == 201, r.text
                event = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert event["type"] in ("comment.published", "batch")
                peak = max(peak, rss_kib(node.proc.pid))

        outcomes = {kind: await asyncio.gather(*tasks) for kind, tasks in tricklers.items()}
        peak = max(peak, rss_kib(node.proc.pid))

    for kind, results in outcomes.items():
        assert all(o.cut_off for o in results), kind
    # Cut off with a 408 and the error's JSON (a reset may race a last byte sent).
    for kind in ("head", "body"):
        answered = [o.answer for o in outcomes[kind] if o.answer]
        assert len(answered) >= len(outcomes[kind]) // 2, kind
        assert {error_code(a) for a in answered} == {(408, "request_timeout")}, kind
    assert all(o.answer == b"" for o in outcomes["silent"])  # closed without a word
    # 200 connections held for seconds cost the node little memory.
    assert peak - before < 32 * 1024, f"RSS grew by {peak - before} KiB"
    assert node.proc.poll() is None


async def test_oversized_request_heads_are_refused_before_they_are_buffered(
    sqlite_url: str, channel_prefix: str, start_node: StartNode
) -> None:
    """httptools has no cap on a head: 20 clients sending 4 MB of one header each would
    cost the node 80 MB and, in small pieces, seconds of CPU for each."""
    await add_site(sqlite_url)
    node = await asyncio.to_thread(
        start_node,
        {
            "COMMENTS_DATABASE_URL": sqlite_url,
            "COMMENTS_CHANNEL_PREFIX": channel_prefix,
            "COMMENTS_CLASSIFIER": "profanity-check",
        },
    )
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
        assert (await http.get("/healthz")).status_code == 200
        before = rss_kib(node.proc.pid)
        first = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: "
        # 4 MB in 4 KiB pieces, as fast as the node reads them.
        sends = [
            send_until_cut_off(node.port, first, b"x" * 4096, 0.001, max_sends=1024)
            for _ in range(20)
        ]
        outcomes = await asyncio.gather(*sends)
        assert all(o.cut_off for o in outcomes)
        answered = [o.answer for o in outcomes if o.answer]
        assert answered, "no client got an answer before the connection ended"
        assert {error_code(a) for a in answered} == {(431, "headers_too_large")}
        assert rss_kib(node.proc.pid) - before < 32 * 1024
        # A head under the cap is served.
        r = await http.get("/healthz", headers={"X-Big": "y" * (MAX_HEAD_BYTES // 2)})
        assert r.status_code == 200


async def test_websocket_message_over_the_size_limit_is_closed_1009(
    sqlite_url: str, channel_prefix: str, start_server: Any
) -> None:
    """Readers have nothing to say on a socket; what they send is read and dropped, and
    a message over 64 KiB (``ws_max_size``, as `comments serve` sets it) ends the socket
    before it is buffered."""
    await add_site(sqlite_url)
    settings = Settings(
        database_url=sqlite_url, channel_prefix=channel_prefix, classifier="profanity-check"
    )
    server: RunningServer = await start_server(settings)
    url = f"{server.ws_url}/ws/v1/sites/news/articles/{ARTICLE}"
    async with websockets.connect(url) as small, websockets.connect(url) as big:
        await small.send("x" * 60_000)  # under the limit: ignored, the socket stays
        await big.send("x" * (64 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(big.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

        async with server.client() as http:
            r = await http.post(THREAD, json={"body": "still here", "author_name": "Ana"})
            assert r.status_code == 201, r.text
        event = json.loads(await asyncio.wait_for(small.recv(), 10))
        assert event["type"] == "comment.published"
        assert event["comment"]["body"] == "still here"
