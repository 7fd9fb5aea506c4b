"""Reactions (docs/api.md, "Reactions"): a reader likes a comment, idempotently; the
count is on the Comment object; no identity, unknown comments and bans are refused; a
shadow-banned reader's like does not change the public count. Real server over sockets,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.api import SSO_SECRET, sso_token
from tests.conftest import RunningServer, add_site
from tests.moderation import Guest, execute, mod_settings, posted, thread_url

Serve = Callable[..., Awaitable[RunningServer]]
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def serve(database_url: str, channel_prefix: str, start_server: Any) -> Serve:
    async def serve(**site: Any) -> RunningServer:
        await add_site(database_url, **{"sso_secrets": [SSO_SECRET], **site})
        server: RunningServer = await start_server(
            mod_settings(database_url, "memory://", channel_prefix)
        )
        return server

    return serve


def reader_of(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {sso_token(name)}"}


async def react(
    http: httpx.AsyncClient, comment_id: str, method: str, headers: dict[str, str]
) -> httpx.Response:
    return await http.request(
        method, f"{thread_url()}/{comment_id}/reaction", content=b"{}", headers={**JSON, **headers}
    )


async def test_likes_are_counted_once_per_reader_and_shown_on_the_comment(
    serve: Serve,
) -> None:
    server = await serve()
    async with server.client() as http:
        ana = Guest("Ana")
        first = await posted(http, "a comment worth liking", 201, guest=ana)
        assert first["reactions"] == 0
        reader = {"Authorization": f"Bearer {sso_token('bob')}"}

        r = await react(http, first["id"], "PUT", reader)
        assert r.status_code == 200, r.text
        assert r.json() == {"reactions": 1, "reacted": True}
        again = await react(http, first["id"], "PUT", reader)
        assert again.json() == {"reactions": 1, "reacted": True}  # idempotent
        r = await react(http, first["id"], "PUT", ana.headers())
        assert r.json() == {"reactions": 2, "reacted": True}

        listed = (await http.get(thread_url())).json()["comments"]
        assert [c["reactions"] for c in listed] == [2]

        r = await react(http, first["id"], "DELETE", reader)
        assert r.json() == {"reactions": 1, "reacted": False}
        r = await react(http, first["id"], "DELETE", reader)
        assert r.json() == {"reactions": 1, "reacted": False}
        listed = (await http.get(thread_url())).json()["comments"]
        assert [c["reactions"] for c in listed] == [1]


async def test_refusals(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        first = await posted(http, "a comment", 201, guest=Guest("Ana"))
        r = await react(http, first["id"], "PUT", {})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
        reader = {"Authorization": f"Bearer {sso_token('bob')}"}
        r = await react(http, "nosuchcomment", "PUT", reader)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = await react(http, first["id"], "PUT", {**reader, "Content-Type": "text/plain"})
        assert r.status_code == 415
        # A guest token that names nobody, alone and among good ones in one batch.
        ana = {"X-Comments-Guest": "no-such-token"}
        answers = await asyncio.gather(
            react(http, first["id"], "PUT", ana),
            *(react(http, first["id"], "PUT", reader_of(f"r{i}")) for i in range(5)),
        )
        assert answers[0].status_code == 401, answers[0].text
        assert answers[0].json()["error"]["code"] == "invalid_guest_token"
        assert [a.json()["reacted"] for a in answers[1:]] == [True] * 5


async def test_a_guest_like_is_refused_where_guests_are_not_allowed(serve: Serve) -> None:
    server = await serve(guests=False)
    async with server.client() as http:
        first = await posted(http, "a comment", 201, headers=reader_of("ana"))
        r = await react(http, first["id"], "PUT", {"X-Comments-Guest": "whatever"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "guests_disabled"


async def test_banned_readers_are_refused_and_shadowed_ones_not_counted(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        first = await posted(http, "a comment", 201, guest=Guest("Ana"))
        bea, cy = Guest("Bea"), Guest("Cy")
        await posted(http, "bea was here", 201, guest=bea)
        await posted(http, "cy was here", 201, guest=cy)
        store = server.node.store
        await execute(store, "UPDATE authors SET banned = true WHERE id = :id", id=bea.author_id)
        await execute(
            store,
            "UPDATE authors SET banned = true, ban_shadow = true WHERE id = :id",
            id=cy.author_id,
        )
        r = await react(http, first["id"], "PUT", bea.headers())
        assert r.status_code == 403 and r.json()["error"]["code"] == "banned"
        r = await react(http, first["id"], "PUT", cy.headers())
        assert r.status_code == 200 and r.json() == {"reactions": 1, "reacted": True}
        listed = (await http.get(thread_url())).json()["comments"]
        assert {c["id"]: c["reactions"] for c in listed}[first["id"]] == 0


async def test_a_reader_sees_which_comments_they_like_and_anonymous_answers_do_not(
    serve: Serve,
) -> None:
    """After a reload the widget shows its reader's Like buttons pressed: every answer to
    a request naming a reader says ``reacted`` per comment, in each order and in the
    permalink context; anonymous answers never carry it (they stay cached and shared)."""
    server = await serve()
    async with server.client() as http:
        ana = Guest("Ana")
        liked = await posted(http, "liked by bob", 201, guest=ana)
        other = await posted(http, "not liked by bob", 201, guest=ana)
        bob = {"Authorization": f"Bearer {sso_token('bob')}"}
        assert (await react(http, liked["id"], "PUT", bob)).status_code == 200
        await react(http, other["id"], "PUT", ana.headers())

        expected = {liked["id"]: True, other["id"]: False}
        for order in ("oldest", "newest", "top"):
            page = await http.get(thread_url(), params={"order": order}, headers=bob)
            assert page.status_code == 200, page.text
            shown = {c["id"]: c["reacted"] for c in page.json()["comments"]}
            assert shown == expected, order
            assert "private" in page.headers.get("cache-control", "") or order == "top"
        as_ana = await http.get(thread_url(), headers=ana.headers())
        assert {c["id"]: c["reacted"] for c in as_ana.json()["comments"]} == {
            liked["id"]: False,
            other["id"]: True,
        }
        context = (await http.get(f"{thread_url()}/{liked['id']}/context", headers=bob)).json()
        assert context["comment"]["reacted"] is True
        assert [c["reacted"] for c in context["after"]] == [False]

        for order in ("oldest", "newest", "top"):
            anonymous = await http.get(thread_url(), params={"order": order})
            assert all("reacted" not in c for c in anonymous.json()["comments"]), order
        first_page = await http.get(thread_url(), params={"order": "newest"})
        assert "public" in first_page.headers["cache-control"]  # still from the read cache
