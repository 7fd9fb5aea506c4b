"""The live stream over a real server: replay and live, batches, reset, removals, slow
consumers, the handshake's refusals, and keepalive pings.

The core replay tests run on both databases and both brokers (the ``settings``
fixture); the others on SQLite with the in-process broker to keep the suite quick.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from comments.models import Status
from comments.settings import Settings
from tests.conftest import RunningServer, add_site, wait_until
from tests.live import (
    Event,
    collect_until,
    connect_slow_reader,
    events_of,
    post,
    recv_events,
    seqs,
    socket_url,
    thread_url,
)

StartServer = Callable[..., Any]


@pytest.fixture
def one_config(sqlite_url: str, channel_prefix: str) -> Settings:
    """SQLite and the in-process broker: for tests whose point is not the backends."""
    return Settings(database_url=sqlite_url, channel_prefix=channel_prefix, resync_interval_s=1.0)


async def serve(start_server: StartServer, settings: Settings) -> RunningServer:
    await add_site(settings.database_url)
    server: RunningServer = await start_server(settings)
    return server


async def store_comments(
    server: RunningServer, article: str, n: int, *, body: str = "", publish: bool = False
) -> None:
    """``n`` published comments written straight to the store (fast). With ``publish``
    each is also handed to the hub, as the post endpoint does."""
    svc = server.node
    author, _ = await svc.store.create_guest("news", "Bulk")
    for i in range(n):
        _, event = await svc.store.create_comment(
            site="news",
            article=article,
            author=author,
            body=body or f"bulk comment {i}",
            parent=None,
            status=Status.PUBLISHED,
        )
        if publish:
            svc.hub.publish("news", article, event)


# -- replay and live ---------------------------------------------------------------------

TOTAL = 60


@dataclass
class Watcher:
    name: str
    since: int | None
    ws: ClientConnection
    # Posts begun when the handshake completed: every later one must be delivered.
    posts_begun: int
    events: list[Event] = field(default_factory=list)


async def test_replay_and_live_meet_without_gap_or_repeat(
    settings: Settings, start_server: StartServer
) -> None:
    server = await serve(start_server, settings)
    article = "2025/07/boundary"
    posted: dict[int, dict[str, Any]] = {}
    begun = 0

    async def poster() -> None:
        nonlocal begun
        async with server.client() as http:
            for i in range(TOTAL):
                begun += 1
                comment = (await post(http, article, f"comment number {i}"))["comment"]
                posted[comment["seq"]] = comment

    watchers: list[Watcher] = []

    async def watch(name: str, since: int | None) -> None:
        ws = await websockets.connect(socket_url(server.ws_url, "news", article, since))
        watchers.append(Watcher(name, since, ws, begun))

    await watch("before, no since", None)
    await watch("before, since=0", 0)
    posting = asyncio.create_task(poster())
    await wait_until(lambda: len(posted) >= 15, timeout=30)
    await watch("mid, since=0", 0)
    await watch("mid, since=mid", len(posted) // 2)
    await watch("mid, since=latest", len(posted))
    await watch("mid, no since", None)
    await wait_until(lambda: len(posted) >= 40, timeout=30)
    await watch("late, since=0", 0)
    await watch("late, since=latest", len(posted))
    await watch("late, no since", None)
    await asyncio.wait_for(posting, 60)
    await watch("after, since=0", 0)
    await watch("after, since=55", 55)

    async def read(w: Watcher) -> None:
        w.events = await collect_until(w.ws, TOTAL, timeout=30)
        await w.ws.close()

    await asyncio.gather(*(read(w) for w in watchers))
    for w in watchers:
        got = seqs(w.events)
        if w.since is not None:
            assert got == list(range(w.since + 1, TOTAL + 1)), w.name
        else:
            assert got == list(range(got[0], TOTAL + 1)), f"{w.name}: not contiguous"
            assert got[0] <= w.posts_begun + 1, f"{w.name}: missed events after its handshake"
        for event in w.events:
            assert event["type"] == "comment.published", w.name
            assert event["comment"] == posted[event["seq"]], w.name
    assert seqs(watchers[0].events) == list(range(1, TOTAL + 1))


async def test_several_ready_events_leave_as_one_batch(
    one_config: Settings, start_server: StartServer
) -> None:
    server = await serve(start_server, one_config)
    article = "batch"
    async with server.client() as http:
        posted = [(await post(http, article, f"early {i}"))["comment"] for i in range(20)]

    async with websockets.connect(socket_url(server.ws_url, "news", article, 0)) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["type"] == "batch"
        assert [e["comment"] for e in frame["events"]] == posted
        assert seqs(events_of(json.dumps(frame))) == list(range(1, 21))

        # Three events ready in one loop turn on the node: one frame for them.
        svc = server.node
        author, _ = await svc.store.create_guest("news", "Burst")
        rows = []
        for i in range(3):
            _, row = await svc.store.create_comment(
                site="news",
                article=article,
                author=author,
                body=f"burst {i}",
                parent=None,
                status=Status.PUBLISHED,
            )
            rows.append(row)
        for row in rows:
            svc.hub.publish("news", article, row)
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["type"] == "batch"
        assert seqs(frame["events"]) == [21, 22, 23]

        # A single event still arrives as a plain event frame.
        async with server.client() as http:
            await post(http, article, "alone")
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["type"] == "comment.published" and frame["seq"] == 24


async def test_long_replay_fits_default_client_message_limit(
    one_config: Settings, start_server: StartServer
) -> None:
    # 300 comments of 4,000 characters: 1.2 MB of replay. A client with the websockets
    # library's default 1 MiB message limit must still receive all of it.
    server = await serve(start_server, one_config)
    await store_comments(server, "long", 300, body="y" * 4000)
    async with websockets.connect(socket_url(server.ws_url, "news", "long", 0)) as ws:
        got = await collect_until(ws, 300)
    assert seqs(got) == list(range(1, 301))
    assert all(len(e["comment"]["body"]) == 4000 for e in got)


# -- reset -------------------------------------------------------------------------------


async def test_far_behind_client_is_told_to_reset(
    one_config: Settings, start_server: StartServer
) -> None:
    server = await serve(start_server, one_config)
    article = "busy"
    await store_comments(server, article, 1005)

    async with websockets.connect(socket_url(server.ws_url, "news", article, 0)) as ws:
        assert await recv_events(ws) == [{"type": "reset", "seq": 1005}]
        async with server.client() as http:
            comment = (await post(http, article, "after the reset"))["comment"]
        (event,) = await recv_events(ws)
        assert event == {"type": "comment.published", "seq": 1006, "comment": comment}

    for since in (4, 5000):  # 1,002 behind; a cursor the article never reached
        async with websockets.connect(socket_url(server.ws_url, "news", article, since)) as ws:
            assert await recv_events(ws) == [{"type": "reset", "seq": 1006}], since

    # Exactly 1,000 behind is still a replay.
    async with websockets.connect(socket_url(server.ws_url, "news", article, 6)) as ws:
        got = await collect_until(ws, 1006)
    assert seqs(got) == list(range(7, 1007))


# -- removals ----------------------------------------------------------------------------


async def test_deleting_own_comment_sends_removed(
    settings: Settings, start_server: StartServer
) -> None:
    server = await serve(start_server, settings)
    article = "2025/07/regrets"
    url = socket_url(server.ws_url, "news", article)
    async with websockets.connect(url) as ws, server.client() as http:
        first = await post(http, article, "I take it back")
        token = first["guest_token"]
        comment_id = first["comment"]["id"]
        (published,) = await recv_events(ws)
        assert published["seq"] == 1 and published["comment"]["id"] == comment_id

        r = await http.delete(
            thread_url("news", article) + f"/{comment_id}", headers={"X-Comments-Guest": token}
        )
        assert r.status_code == 200, r.text
        assert await recv_events(ws) == [{"type": "comment.removed", "seq": 2, "id": comment_id}]

        second = await post(http, article, "a better take", guest_token=token)
        (event,) = await recv_events(ws)
        assert event["seq"] == 3 and event["comment"] == second["comment"]

    # A page opened later replays the removal in its place, and the removed comment's
    # publication without its text (docs/api.md, "Removed comments").
    async with websockets.connect(socket_url(server.ws_url, "news", article, 0)) as ws:
        got = await collect_until(ws, 3)
    assert [(e["type"], e["seq"]) for e in got] == [
        ("comment.redacted", 1),
        ("comment.removed", 2),
        ("comment.published", 3),
    ]
    assert got[0] == {"type": "comment.redacted", "seq": 1, "id": comment_id}


# -- slow consumers ----------------------------------------------------------------------


async def test_slow_consumer_is_closed_1013_and_others_get_everything(
    one_config: Settings, start_server: StartServer
) -> None:
    server = await serve(start_server, one_config.with_(socket_queue_events=20))
    article = "firehose"
    url = socket_url(server.ws_url, "news", article)
    hub = server.node.hub
    # It reads nothing until the end: one message queued, then its reads are paused.
    slow = await connect_slow_reader(server, url)
    await wait_until(lambda: hub.sockets == 1)
    (slow_sub,) = [s for c in hub.channels.values() for s in c.subscribers]
    fast = [await websockets.connect(url) for _ in range(2)]
    fast_events: list[list[Event]] = [[], []]

    async def read_fast(ws: ClientConnection, into: list[Event]) -> None:
        while True:
            into.extend(await recv_events(ws, timeout=60))

    readers = [
        asyncio.create_task(read_fast(ws, into)) for ws, into in zip(fast, fast_events, strict=True)
    ]
    await wait_until(lambda: hub.sockets == 3)

    # Long comments until the slow socket's buffers (client queue, both kernels, the
    # server's transport) are full and its queue overflows; bounded either way.
    published = 0
    deadline = time.monotonic() + 60
    while slow_sub.close_code is None:
        assert published < 600 and time.monotonic() < deadline, "slow socket never dropped"
        # Random text, so permessage-deflate cannot shrink it away.
        await store_comments(server, article, 1, body=secrets.token_urlsafe(3000), publish=True)
        published += 1
    await store_comments(server, article, 5, body="after the drop", publish=True)
    published += 5

    for events in fast_events:
        await wait_until(lambda e=events: len(e) >= published, timeout=30)
        assert seqs(events) == list(range(1, published + 1))
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    assert all(ws.close_code is None for ws in fast)

    # The slow reader finally reads: what was buffered, then the close.
    slow_events: list[Event] = []
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(published + 1):
            slow_events.extend(await recv_events(slow, timeout=30))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    got = seqs(slow_events)
    assert got == list(range(1, len(got) + 1)), "what it got is in order, without a gap"
    assert len(got) < published

    # Reconnecting with since loses nothing.
    async with websockets.connect(socket_url(server.ws_url, "news", article, len(got))) as ws:
        assert seqs(await collect_until(ws, published)) == list(range(len(got) + 1, published + 1))
    for ws in fast:
        await ws.close()
    await wait_until(lambda: hub.sockets == 0)


async def test_reconnect_further_behind_than_the_queue_still_replays(
    one_config: Settings, start_server: StartServer
) -> None:
    server = await serve(start_server, one_config.with_(socket_queue_events=20))
    await store_comments(server, "behind", 50)
    async with websockets.connect(socket_url(server.ws_url, "news", "behind", 0)) as ws:
        got = await collect_until(ws, 50)
        assert seqs(got) == list(range(1, 51))
        async with server.client() as http:
            await post(http, "behind", "and live after it")
        assert seqs(await recv_events(ws)) == [51]


# -- the handshake -----------------------------------------------------------------------

SELF = "http://127.0.0.1:{port}"
OWN = "https://comments.example"  # COMMENTS_PUBLIC_URL in these tests


@pytest.mark.parametrize(
    ("site", "query", "origin", "status"),
    [
        ("news", "", "https://partner.example", None),
        ("news", "", None, None),
        ("news", "", OWN, None),
        ("news", "", SELF, 403),
        ("news", "", "null", 403),
        ("news", "?since=0", "https://partner.example", None),
        ("news", "", "https://evil.example", 403),
        ("news", "", "http://partner.example", 403),
        ("nosuch", "", None, 404),
        ("news", "?since=abc", None, 422),
        ("news", "?since=-1", None, 422),
        ("news", "?since=" + "9" * 25, None, 422),
        ("news", "%00b", None, 422),
    ],
    ids=[
        "allowed-origin",
        "no-origin",
        "own-origin-configured",
        "own-address-not-configured-403",
        "null-origin-403",
        "allowed-origin-since",
        "foreign-origin-403",
        "wrong-scheme-origin-403",
        "unknown-site-404",
        "since-not-a-number-422",
        "since-negative-422",
        "since-beyond-64-bits-422",
        "article-with-nul-422",
    ],
)
async def test_handshake(
    one_config: Settings,
    start_server: StartServer,
    site: str,
    query: str,
    origin: str | None,
    status: int | None,
) -> None:
    server = await serve(start_server, one_config.with_(own_origins=(OWN,)))
    url = f"{server.ws_url}/ws/v1/sites/{site}/articles/a{query}"
    headers = {"Origin": origin.format(port=server.port)} if origin else {}
    if status is not None:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(url, additional_headers=headers)
        assert refused.value.response.status_code == status
        assert "error" in json.loads(refused.value.response.body or b"{}")
        assert server.node.hub.sockets == 0
        return
    async with websockets.connect(url, additional_headers=headers) as ws, server.client() as http:
        comment = (await post(http, "a", "hello"))["comment"]
        assert await recv_events(ws) == [
            {"type": "comment.published", "seq": 1, "comment": comment}
        ]


async def test_own_origin_never_comes_from_the_host_header(
    one_config: Settings, start_server: StartServer
) -> None:
    """A page on evil.example whose DNS points at this server sends matching Host and
    Origin: it is not the server's own (issue 13: it got 101)."""
    settings = one_config.with_(own_origins=(OWN,), classifier="profanity-check")
    server = await serve(start_server, settings)
    for host in ("evil.example", f"evil.example:{server.port}"):
        # Connected to this server, with the URL (so Host) and Origin of evil.example.
        url = f"ws://{host}/ws/v1/sites/news/articles/a"
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(
                url,
                host="127.0.0.1",
                port=server.port,
                additional_headers={"Origin": f"http://{host}"},
            )
        assert refused.value.response.status_code == 403
    assert server.node.hub.sockets == 0


async def test_too_many_sockets_from_one_address(
    one_config: Settings, start_server: StartServer
) -> None:
    server = await serve(start_server, one_config.with_(max_sockets_per_ip=2))
    url = socket_url(server.ws_url, "news", "a")
    first = await websockets.connect(url)
    second = await websockets.connect(url)
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(url)
    assert refused.value.response.status_code == 429

    await first.close()
    await wait_until(lambda: server.node.hub.sockets == 1)
    third = await websockets.connect(url)  # a slot is free again
    async with server.client() as http:
        await post(http, "a", "both hear it")
    for ws in (second, third):
        assert seqs(await recv_events(ws)) == [1]
        await ws.close()


# -- keepalive and shutdown --------------------------------------------------------------


async def raw_handshake(server: RunningServer, path: str) -> tuple[Any, Any]:
    """A TCP connection that completes the WebSocket handshake by hand, then never
    reads again (so it never answers a ping)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def test_socket_that_never_answers_pings_is_dropped(
    one_config: Settings, start_server: StartServer
) -> None:
    server = await serve(start_server, one_config.with_(ws_ping_interval=0.2, ws_ping_timeout=0.2))
    hub = server.node.hub
    # A normal client answers pings by itself and must stay.
    alive = await websockets.connect(socket_url(server.ws_url, "news", "a"))
    reader, writer = await raw_handshake(server, "/ws/v1/sites/news/articles/a")
    await wait_until(lambda: hub.sockets == 2)

    await wait_until(lambda: hub.sockets == 1, timeout=15)
    assert server.node.sockets_per_ip.get("127.0.0.1") == 1
    # The server closed the silent connection: reading it now ends in EOF.
    deadline = time.monotonic() + 10
    while await asyncio.wait_for(reader.read(65536), 10):
        assert time.monotonic() < deadline
    writer.close()

    async with server.client() as http:
        await post(http, "a", "still here?")
    assert seqs(await recv_events(alive)) == [1]
    await alive.close()


async def test_shutdown_closes_sockets_with_1012(
    one_config: Settings, start_server: StartServer
) -> None:
    server = await serve(start_server, one_config)
    ws = await websockets.connect(socket_url(server.ws_url, "news", "a"))
    await wait_until(lambda: server.node.hub.sockets == 1)
    stopping = asyncio.create_task(server.stop())
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    await stopping
