"""Frames built once and written straight to sockets (comments.server.ws_protocol): every size of
frame parses in a standard client, a reader that stalls and reads again gets everything
in order, deflate still works, and the delivered-events metric counts both paths."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

import pytest
import websockets
from websockets.frames import Frame, Opcode

from comments.live.frames import text_frame
from comments.live.hub import FRAME_MAX_CHARS, Subscriber
from comments.models import Status
from comments.server.ws_protocol import Flag, Inbox
from comments.settings import Settings
from tests.conftest import RunningServer, wait_until
from tests.live import (
    Event,
    collect_until,
    connect_slow_reader,
    events_of,
    recv_events,
    seqs,
    socket_url,
)
from tests.live.test_websocket import serve, store_comments

StartServer = Callable[..., Any]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_text_frame_is_what_websockets_would_send(size: int) -> None:
    data = secrets.token_urlsafe(size)[:size].encode()
    assert text_frame(data) == Frame(Opcode.TEXT, data).serialize(mask=False)


@pytest.fixture
def config(sqlite_url: str, channel_prefix: str) -> Settings:
    return Settings(database_url=sqlite_url, channel_prefix=channel_prefix)


def subscriber(server: RunningServer) -> Subscriber:
    (sub,) = [s for c in server.node.hub.channels.values() for s in c.subscribers]
    return sub


async def test_frames_of_every_length_reach_a_standard_client(
    config: Settings, start_server: StartServer
) -> None:
    server = await serve(start_server, config)
    article = "sizes"
    # 8,000-character comments: one alone needs a 16-bit length, and a replay of ten
    # (one frame, built per socket) a 64-bit one.
    await store_comments(server, article, 10, body="x" * 8000)
    async with websockets.connect(socket_url(server.ws_url, "news", article, 0)) as ws:
        replay = await collect_until(ws, 10)
        assert seqs(replay) == list(range(1, 11))
        await wait_until(lambda: subscriber(server).direct is not None)
        # Live: short ones (7-bit length), then a long one, each a frame shared by all.
        await store_comments(server, article, 1, body="hi", publish=True)
        await store_comments(server, article, 1, body="y" * 8000, publish=True)
        live = await collect_until(ws, 12)
    assert seqs(live) == [11, 12]
    assert [e["comment"]["body"] for e in live] == ["hi", "y" * 8000]
    assert all(e["comment"]["body"] == "x" * 8000 for e in replay)


async def test_a_live_batch_over_the_frame_limit_leaves_in_bounded_frames(
    config: Settings, start_server: StartServer
) -> None:
    # No sweep: the comments reach the socket only as the one batch published below.
    server = await serve(start_server, config.with_(resync_interval_s=0))
    article = "flood"
    svc = server.node
    author, _ = await svc.store.create_guest("news", "Bulk")
    async with websockets.connect(socket_url(server.ws_url, "news", article)) as ws:
        await wait_until(lambda: subscriber(server).direct is not None)
        events = []
        for _ in range(40):  # 40 x 5,000 characters: well over FRAME_MAX_CHARS together
            _, event = await svc.store.create_comment(
                site="news",
                article=article,
                author=author,
                body=secrets.token_urlsafe(3750),
                parent=None,
                status=Status.PUBLISHED,
            )
            events.append(event)
        for event in events:  # one loop turn: they reach the channel as one batch
            svc.hub.publish("news", article, event)
        got: list[Event] = []
        sizes = []
        while len(got) < len(events):
            frame = await asyncio.wait_for(ws.recv(), 10)
            sizes.append(len(frame))
            got.extend(events_of(frame))
    assert seqs(got) == list(range(1, 41))
    assert len(sizes) > 1
    assert max(sizes) <= FRAME_MAX_CHARS + 1000  # the batch's own JSON around the events


async def test_a_reader_that_stalls_then_reads_gets_everything_once_in_order(
    config: Settings, start_server: StartServer
) -> None:
    server = await serve(start_server, config)
    article = "stall"
    ws = await connect_slow_reader(server, socket_url(server.ws_url, "news", article))
    try:
        await wait_until(lambda: server.node.hub.sockets == 1)
        sub = subscriber(server)
        await wait_until(lambda: sub.direct is not None)
        # Long random comments until the socket stops taking frames: its writer is then
        # waiting for room, and frames queue behind it.
        published = 0
        while sub.direct is not None or not sub.frames:
            assert published < 200, "the socket never filled up"
            await store_comments(server, article, 1, body=secrets.token_urlsafe(3000), publish=True)
            published += 1
        await store_comments(server, article, 5, body="after the stall", publish=True)
        published += 5

        got: list[Event] = []
        while len(got) < published:
            got.extend(await recv_events(ws, timeout=30))
        assert seqs(got) == list(range(1, published + 1))
        # Drained, the socket is written directly again.
        await wait_until(lambda: sub.direct is not None)
        await store_comments(server, article, 1, body="direct again", publish=True)
        (last,) = await collect_until(ws, published + 1)
        assert last["seq"] == published + 1
        delivered = server.node.metrics.events_delivered.value()
        assert delivered == published + 1
    finally:
        await ws.close()


async def test_permessage_deflate_clients_still_get_every_event(
    config: Settings, start_server: StartServer
) -> None:
    server = await serve(start_server, config.with_(ws_per_message_deflate=True))
    article = "deflate"
    async with (
        websockets.connect(socket_url(server.ws_url, "news", article)) as deflating,
        websockets.connect(socket_url(server.ws_url, "news", article), compression=None) as plain,
    ):
        assert deflating.protocol.extensions, "the client negotiated permessage-deflate"
        assert not plain.protocol.extensions
        await wait_until(lambda: server.node.hub.sockets == 2)
        await store_comments(server, article, 3, body="z" * 5000, publish=True)
        for ws in (deflating, plain):
            got = await collect_until(ws, 3)
            assert seqs(got) == [1, 2, 3]
            assert all(e["comment"]["body"] == "z" * 5000 for e in got)


async def test_inbox_hands_items_over_in_order_and_survives_a_cancelled_get() -> None:
    inbox = Inbox()
    getter = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    waiting = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert await asyncio.wait_for(waiting, 5) == 1
    assert not inbox.empty()
    assert await inbox.get() == 2
    assert inbox.empty()


async def test_flag_releases_every_waiter_when_set() -> None:
    flag = Flag()
    assert flag.is_set()
    await asyncio.wait_for(flag.wait(), 1)  # set: returns at once
    flag.clear()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(3)]
    cancelled = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    cancelled.cancel()
    flag.set()
    await asyncio.wait_for(asyncio.gather(*waiters), 5)
    with pytest.raises(asyncio.CancelledError):
        await cancelled


async def test_an_open_socket_keeps_no_request_headers(
    config: Settings, start_server: StartServer
) -> None:
    # A browser's headers (cookies included) run to kilobytes; an idle socket is held for
    # hours, and the app has read what it needs (origin, address) before it accepts.
    server = await serve(start_server, config)
    cookie = "session=" + "c" * 4000
    async with websockets.connect(
        socket_url(server.ws_url, "news", "quiet", 0), additional_headers={"Cookie": cookie}
    ) as ws:
        await wait_until(lambda: len(server.node.hub.channels) == 1)
        (protocol,) = [
            c
            for c in server.server.server_state.connections
            if getattr(c, "scope", {}).get("type") == "websocket"
        ]
        assert protocol.scope["headers"] == []
        # And the socket still works: a comment reaches it.
        await store_comments(server, "quiet", 1, publish=True)
        assert seqs(await collect_until(ws, 1)) == [1]
