"""Removed means removed (issue 13): after a delete and a reject, no public path serves the
comment's body or author again. REST pages in both orders, counts, socket replays from 0
and from a later cursor, the replay after a reset; on one node (SQLite and PostgreSQL)
and, for what nodes keep in memory, on two nodes sharing Redis.

The probe that found it: a socket with ``since=0`` replayed both ``comment.published``
events, bodies and authors, before their ``comment.removed``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import httpx
import websockets

from comments.settings import Settings
from tests.conftest import REDIS_URL, RunningServer, add_site, wait_until
from tests.live import Event, connect_slow_reader, events_of, seqs, socket_url
from tests.moderation import (
    ARTICLE,
    CLEAN,
    Guest,
    bearer,
    mod_settings,
    new_moderator,
    posted,
    thread_url,
)

DELETED_BODY = "my phone number is 555-0100, oops"
DELETED_NAME = "Zelda Quillfeather"
REJECTED_BODY = "I live at 12 Hidden Lane, come by"
REJECTED_NAME = "Yorick Ashgrove"
# What must never come back, in any response or frame.
SECRETS = ("555-0100", "Zelda Quillfeather", "Hidden Lane", "Yorick Ashgrove")


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


async def replay(server: RunningServer, since: int, until: int) -> tuple[list[str], list[Event]]:
    """The frames (raw text) and events a socket with ``since`` receives up to ``until``."""
    frames: list[str] = []
    events: list[Event] = []
    url = socket_url(server.ws_url, "news", ARTICLE, since)
    async with websockets.connect(url) as ws:
        while not events or events[-1]["seq"] < until:
            frame = await ws.recv(decode=True)
            assert isinstance(frame, str)
            frames.append(frame)
            events.extend(events_of(frame))
            if events[-1]["type"] == "reset":
                break
    return frames, events


async def every_public_response(http: httpx.AsyncClient) -> list[str]:
    """The bodies of every public REST read of the article: thread pages walked in both
    orders (one comment a page, so every cursor is used), and the counts."""
    texts: list[str] = []
    for order, cursor_name in (("oldest", "after"), ("newest", "before")):
        cursor: int | None = None
        while True:
            params: dict[str, Any] = {"order": order, "limit": 1}
            if cursor is not None:
                params[cursor_name] = cursor
            r = await http.get(thread_url(), params=params)
            assert r.status_code == 200, r.text
            texts.append(r.text)
            cursor = r.json()["next"]
            if cursor is None:
                break
    r = await http.get("/api/v1/sites/news/counts", params={"article": ARTICLE})
    assert r.status_code == 200 and r.json() == {"counts": {ARTICLE: 2}}, r.text
    texts.append(r.text)
    return texts


async def test_no_public_path_serves_a_deleted_or_rejected_comment(
    database_url: str, channel_prefix: str, start_server: Callable[..., Any]
) -> None:
    await add_site(database_url)
    server: RunningServer = await start_server(
        mod_settings(database_url, "memory://", channel_prefix)
    )
    async with server.client() as http:
        moderator = await new_moderator(server, http)
        kept = await posted(http, f"{CLEAN}, first", 201, guest=Guest("Kim"))  # seq 1
        zelda = Guest(DELETED_NAME)
        deleted = await posted(http, DELETED_BODY, 201, guest=zelda)  # seq 2
        rejected = await posted(http, REJECTED_BODY, 201, guest=Guest(REJECTED_NAME))  # seq 3
        r = await http.delete(f"{thread_url()}/{deleted['id']}", headers=zelda.headers())
        assert r.status_code == 200, r.text  # seq 4
        r = await http.post(
            f"/api/v1/moderation/comments/{rejected['id']}/reject", headers=bearer(moderator.token)
        )
        assert r.status_code == 200, r.text  # seq 5
        last = await posted(http, f"{CLEAN}, last", 201, guest=Guest("Lou"))  # seq 6
        assert last["seq"] == 6

        texts = await every_public_response(http)
        listed = [c["id"] for c in json.loads(texts[0])["comments"]]
        assert listed == [kept["id"]], "oldest first, page 1"

        # Replays: from the start, from a cursor between the events, and the one after
        # a reset (a cursor from the future is told to reset; it reloads, as above, and
        # resubscribes from the seq it was given).
        streams: dict[str, list[Event]] = {}
        for since in (0, 1, 2, 3):
            frames, events = await replay(server, since, 6)
            texts += frames
            streams[f"since={since}"] = events
            assert seqs(events) == list(range(since + 1, 7)), f"since={since}: contiguous"
        frames, events = await replay(server, 99, 6)
        assert events == [{"type": "reset", "seq": 6}]
        texts += await every_public_response(http)

    found = {text[:120]: leaks(text) for text in texts if leaks(text)}
    assert found == {}, "removed text or author served again"
    for name, events in streams.items():
        assert all("comment" not in e for e in events if e["seq"] in (2, 3)), name
    assert streams["since=0"][1:5] == [
        {"type": "comment.redacted", "seq": 2, "id": deleted["id"]},
        {"type": "comment.redacted", "seq": 3, "id": rejected["id"]},
        {"type": "comment.removed", "seq": 4, "id": deleted["id"]},
        {"type": "comment.removed", "seq": 5, "id": rejected["id"]},
    ]


async def test_approved_after_reject_is_published_anew_and_the_old_event_stays_redacted(
    database_url: str, channel_prefix: str, start_server: Callable[..., Any]
) -> None:
    await add_site(database_url)
    server: RunningServer = await start_server(
        mod_settings(database_url, "memory://", channel_prefix)
    )
    async with server.client() as http:
        moderator = await new_moderator(server, http)
        comment = await posted(http, CLEAN, 201)  # seq 1
        assert (await moderator.decided("reject", comment["id"]))["status"] == "rejected"
        approved = await moderator.decided("approve", comment["id"])
        assert approved["seq"] == 3
    _, events = await replay(server, 0, 3)
    assert events == [
        {"type": "comment.redacted", "seq": 1, "id": comment["id"]},
        {"type": "comment.removed", "seq": 2, "id": comment["id"]},
        {"type": "comment.published", "seq": 3, "comment": approved},
    ]


async def test_other_nodes_drop_a_removed_comment_from_what_they_hold(
    postgres_url: str, channel_prefix: str, start_server: Callable[..., Any]
) -> None:
    """A slow reader on node B has the comment queued in B's memory (its socket takes
    nothing for now) when its author deletes it on node A: the removal reaches B through
    Redis, and what B sends the reader afterwards carries no text of it."""
    await add_site(postgres_url)
    settings: Settings = mod_settings(postgres_url, REDIS_URL, channel_prefix)
    a: RunningServer = await start_server(settings)
    b: RunningServer = await start_server(settings)
    for node in (a, b):
        await wait_until(lambda node=node: node.node.broker.healthy)
    slow = await connect_slow_reader(b, socket_url(b.ws_url, "news", ARTICLE))
    await wait_until(lambda: b.node.hub.sockets == 1)
    (on_b,) = [s for c in b.node.hub.channels.values() for s in c.subscribers]
    async with a.client() as http:
        # Long comments until the socket's buffers are full and B keeps what follows in
        # its memory (random text, so permessage-deflate cannot shrink it away; hex, one
        # long "word" of no language, so no window of it reads as an insult).
        fillers = 0
        while not on_b.frames:
            assert fillers < 300, "the slow socket's buffers never filled"
            await posted(http, secrets.token_hex(2000), 201, guest=Guest("Kim"))
            fillers += 1
        zelda = Guest(DELETED_NAME)
        deleted = await posted(http, DELETED_BODY, 201, guest=zelda)
        at = deleted["seq"]
        await wait_until(lambda: on_b.frames and on_b.frames[-1].last >= at)
        assert any(DELETED_BODY in p for f in on_b.frames for p in f.payloads)
        r = await http.delete(f"{thread_url()}/{deleted['id']}", headers=zelda.headers())
        assert r.status_code == 200, r.text
    frames: list[str] = []
    events: list[Event] = []
    while not events or events[-1]["seq"] < at + 1:
        frame = await slow.recv(decode=True)
        assert isinstance(frame, str)
        frames.append(frame)
        events.extend(events_of(frame))
    await slow.close()
    assert on_b.close_code is None
    assert seqs(events) == list(range(1, at + 2))
    assert events[at - 1] == {"type": "comment.redacted", "seq": at, "id": deleted["id"]}
    assert [leaks(f) for f in frames if leaks(f)] == []
