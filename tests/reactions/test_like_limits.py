"""Likes under abuse (issue #17): likes have rate limits of their own, per reader and
per address, apart from the posting budget (on the in-memory limiter and on Redis); a
shadow-banned reader's like changes nothing anyone else sees, live frames included; a
held or removed comment cannot be liked. Real servers over sockets, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import websockets

from tests.api import SSO_SECRET, sso_token
from tests.conftest import RunningServer, add_site
from tests.live import socket_url
from tests.moderation import (
    ARTICLE,
    Guest,
    bearer,
    execute,
    mod_settings,
    new_moderator,
    post,
    posted,
    thread_url,
)

Serve = Callable[..., Awaitable[RunningServer]]
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def serve(database_url: str, broker_url: str, channel_prefix: str, start_server: Any) -> Serve:
    """A server on this run's store and broker (whose kind the rate limiter follows)."""

    async def serve(**site: Any) -> RunningServer:
        await add_site(database_url, **{"sso_secrets": [SSO_SECRET], **site})
        server: RunningServer = await start_server(
            mod_settings(database_url, broker_url, channel_prefix)
        )
        return server

    return serve


def seqs(frame: dict[str, Any]) -> list[int]:
    """The seqs a frame carries (a batch carries several)."""
    events = frame["events"] if frame.get("type") == "batch" else [frame]
    return [e["seq"] for e in events if "seq" in e]


def reader(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {sso_token(name)}"}


async def react(
    http: httpx.AsyncClient, comment_id: str, method: str, headers: dict[str, str]
) -> httpx.Response:
    return await http.request(
        method, f"{thread_url()}/{comment_id}/reaction", content=b"{}", headers={**JSON, **headers}
    )


def assert_limited(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 60


async def refusals(http: httpx.AsyncClient) -> dict[str, float]:
    """``comments_rate_limited_total`` by its ``limit`` label."""
    found: dict[str, float] = {}
    for line in (await http.get("/metrics")).text.splitlines():
        if line.startswith("comments_rate_limited_total{"):
            label = line.split('limit="', 1)[1].split('"', 1)[0]
            found[label] = float(line.rsplit(" ", 1)[1])
    return found


async def test_likes_have_their_own_limits_apart_from_posts(serve: Serve) -> None:
    server = await serve(
        posts_per_minute_per_ip=2, likes_per_minute_per_reader=3, likes_per_minute_per_ip=5
    )
    async with server.client() as http:
        ana = Guest("Ana")
        liked = await posted(http, "a comment worth liking", 201, guest=ana)  # post 1 of 2
        # Three likes and unlikes by one reader: their limit, not the posts' one.
        for method in ("PUT", "DELETE", "PUT"):
            r = await react(http, liked["id"], method, reader("bob"))
            assert r.status_code == 200, r.text
        assert_limited(await react(http, liked["id"], "DELETE", reader("bob")))
        # ...which took nothing from posting: the second post of two still goes.
        await posted(http, "and a second one", 201, guest=ana)
        assert_limited(await post(http, "a third is one too many", guest=ana))
        # Nor did posting take from liking: the address has one like left (bob's four
        # tries counted against it), then its limit says no to anyone.
        r = await react(http, liked["id"], "PUT", reader("cy"))
        assert r.status_code == 200 and r.json() == {"reactions": 2, "reacted": True}
        assert_limited(await react(http, liked["id"], "PUT", reader("dee")))

        listed = (await http.get(thread_url())).json()["comments"]
        assert {c["id"]: c["reactions"] for c in listed}[liked["id"]] == 2
        counted = await refusals(http)
        assert counted.get("like_reader") == 1 and counted.get("like_ip") == 1
        assert counted.get("post_ip") == 1


async def test_no_like_limit_when_set_to_zero(serve: Serve) -> None:
    server = await serve(likes_per_minute_per_reader=0, likes_per_minute_per_ip=0)
    async with server.client() as http:
        liked = await posted(http, "like me a lot", 201, guest=Guest("Ana"))
        for i in range(70):  # past the default 60 per reader
            method = "PUT" if i % 2 == 0 else "DELETE"
            r = await react(http, liked["id"], method, reader("bob"))
            assert r.status_code == 200, r.text


async def test_a_shadow_banned_like_sends_no_frame(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        liked = await posted(http, "a comment", 201, guest=Guest("Ana"))
        cy = Guest("Cy")
        await posted(http, "cy was here", 201, guest=cy)
        await execute(
            server.node.store,
            "UPDATE authors SET banned = true, ban_shadow = true WHERE id = :id",
            id=cy.author_id,
        )
        async with websockets.connect(socket_url(server.ws_url, "news", ARTICLE, since=0)) as ws:
            # Live once the replay is through (the second comment's event).
            while 2 not in seqs(json.loads(await asyncio.wait_for(ws.recv(), 10))):
                pass
            r = await react(http, liked["id"], "PUT", cy.headers())
            assert r.status_code == 200 and r.json() == {"reactions": 1, "reacted": True}
            r = await react(http, liked["id"], "PUT", reader("bob"))
            assert r.json() == {"reactions": 1, "reacted": True}
            # The first count frame is bob's like: the shadowed one sent none before it.
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert frame == {"type": "comment.reactions", "id": liked["id"], "reactions": 1}
        text = (await http.get("/metrics")).text
        assert "comments_like_frames_total 1" in text.splitlines()


@pytest.mark.parametrize("shadow", [False, True], ids=["ban", "shadow-ban"])
async def test_a_ban_takes_the_readers_earlier_likes_off_live(serve: Serve, shadow: bool) -> None:
    server = await serve()
    async with server.client() as http:
        liked = await posted(http, "a comment", 201, guest=Guest("Ana"))
        cy = Guest("Cy")
        await posted(http, "cy was here", 201, guest=cy)
        for who in (cy.headers(), reader("bob")):
            assert (await react(http, liked["id"], "PUT", who)).status_code == 200
        async with websockets.connect(socket_url(server.ws_url, "news", ARTICLE, since=0)) as ws:
            while 2 not in seqs(json.loads(await asyncio.wait_for(ws.recv(), 10))):
                pass
            mod = await new_moderator(server, http)
            r = await http.post(
                f"/api/v1/moderation/sites/news/authors/{cy.author_id}/ban",
                json={"reason": "troll", "shadow": shadow},
                headers=bearer(mod.token),
            )
            assert r.status_code == 200, r.text
            # Open pages see the count drop; a reload shows it too.
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert frame == {"type": "comment.reactions", "id": liked["id"], "reactions": 1}
        page = (await http.get(thread_url())).json()["comments"]
        assert next(c for c in page if c["id"] == liked["id"])["reactions"] == 1


async def test_a_held_comment_cannot_be_liked(serve: Serve) -> None:
    server = await serve(premoderated=True)
    async with server.client() as http:
        held = await posted(http, "waiting for a moderator", 202, guest=Guest("Ana"))
        r = await react(http, held["id"], "PUT", reader("bob"))
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_a_removed_comment_cannot_be_liked_or_unliked(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = Guest("Ana")
        gone = await posted(http, "soon deleted", 201, guest=ana)
        r = await react(http, gone["id"], "PUT", reader("bob"))
        assert r.json() == {"reactions": 1, "reacted": True}
        r = await http.request(
            "DELETE", f"{thread_url()}/{gone['id']}", headers={**JSON, **ana.headers()}
        )
        assert r.status_code == 200, r.text
        for method in ("PUT", "DELETE"):
            r = await react(http, gone["id"], method, reader("bob"))
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        # Its likes are kept but never served: the comment is not.
        assert (await http.get(thread_url())).json()["comments"] == []


async def test_a_reader_likes_60_times_a_minute_by_default(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        liked = await posted(http, "like me often", 201, guest=Guest("Ana"))
        for i in range(60):
            r = await react(http, liked["id"], "PUT" if i % 2 == 0 else "DELETE", reader("bob"))
            assert r.status_code == 200, r.text
        assert_limited(await react(http, liked["id"], "PUT", reader("bob")))
        r = await react(http, liked["id"], "PUT", reader("cy"))  # another reader: their own
        assert r.status_code == 200, r.text
