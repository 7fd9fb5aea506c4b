"""Edits (docs/api.md, "Editing"): the author changes a comment within the site's edit
window; the new text goes through the moderation a new post goes through. Clean: open
pages get ``comment.edited`` and replays never serve the old text again. Toxic: held,
withdrawn (``comment.removed``), queued for moderators with its earlier texts. Real
server over sockets, the bundled classifier, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets

from comments.models import Status
from tests.api import SSO_SECRET, assert_error, sso_token
from tests.conftest import RunningServer, add_site
from tests.moderation import (
    ARTICLE,
    CLEAN,
    TOXIC,
    TOXIC_REASON,
    UNAVAILABLE,
    Events,
    FailingClassifier,
    Guest,
    bearer,
    execute,
    mod_settings,
    new_moderator,
    open_moderation,
    open_public,
    posted,
    thread_url,
    use_classifier,
)

Serve = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
def serve(database_url: str, channel_prefix: str, start_server: Any) -> Serve:
    async def serve(**site: Any) -> RunningServer:
        await add_site(database_url, **{"sso_secrets": [SSO_SECRET], **site})
        server: RunningServer = await start_server(
            mod_settings(database_url, "memory://", channel_prefix)
        )
        return server

    return serve


def comment_url(comment_id: str, article: str = ARTICLE) -> str:
    return f"{thread_url(article)}/{comment_id}"


async def edit(
    http: httpx.AsyncClient,
    comment: dict[str, Any],
    body: Any,
    guest: Guest | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await http.patch(
        comment_url(comment["id"], comment["article"]),
        json={"body": body},
        headers={**(guest.headers() if guest else {}), **(headers or {})},
    )


async def replay(server: RunningServer, since: int = 0) -> list[dict[str, Any]]:
    """Every event a page reconnecting with ``since`` is sent, up to the latest."""
    async with websockets.connect(
        f"{server.ws_url}/ws/v1/sites/news/articles/{ARTICLE}?since={since}"
    ) as ws:
        events = Events(ws)
        latest = await server.node.store.latest_seqs("news", [ARTICLE])
        out: list[dict[str, Any]] = []
        while not out or out[-1]["seq"] < latest[ARTICLE]:
            out.append(await events.next())
        return out


async def test_a_clean_edit_is_published_live_and_the_old_text_never_served(
    serve: Serve,
) -> None:
    server = await serve()
    async with server.client() as http:
        ana = Guest("Ana")
        first = await posted(http, "the frist version", 201, guest=ana)
        page = await open_public(server)
        r = await edit(http, first, "  the first version  ", ana)
        assert r.status_code == 200, r.text
        edited = r.json()["comment"]
        assert edited["body"] == "the first version"  # trimmed, as posts are
        assert edited["status"] == "published" and edited["seq"] == first["seq"]
        assert edited["edited_at"] >= first["created_at"]
        assert edited["id"] == first["id"] and edited["author"] == first["author"]
        event = await page.next()
        assert event == {"type": "comment.edited", "seq": 2, "comment": edited}
        await page.close()

        listed = (await http.get(thread_url())).json()
        assert listed["comments"] == [edited] and listed["latest_seq"] == 2

        # A page that reconnects from before: the publication is redacted, the edit is
        # there; the old text is nowhere.
        events = await replay(server)
        assert events == [
            {"type": "comment.redacted", "seq": 1, "id": first["id"]},
            {"type": "comment.edited", "seq": 2, "comment": edited},
        ]
        assert "frist" not in json.dumps(events)

        # A second edit redacts the first one's event too.
        again = (await edit(http, edited, "the first version, again", ana)).json()["comment"]
        events = await replay(server)
        assert [e["type"] for e in events] == ["comment.redacted"] * 2 + ["comment.edited"]
        assert events[-1]["comment"] == again
        assert "frist" not in json.dumps(events) and 'version"' not in json.dumps(events)

        # The same text again changes nothing: no event, no version.
        same = await edit(http, again, again["body"], ana)
        assert same.status_code == 200 and same.json()["comment"] == again
        assert (await http.get(thread_url())).json()["latest_seq"] == 3

        # Moderators see the earlier texts, oldest first.
        mod = await new_moderator(server, http)
        r = await http.get(
            f"/api/v1/moderation/comments/{first['id']}/versions", headers=bearer(mod.token)
        )
        assert r.status_code == 200, r.text
        assert [v["body"] for v in r.json()["versions"]] == [
            "the frist version",
            "the first version",
        ]
        assert r.json()["comment"]["body"] == "the first version, again"


async def test_a_toxic_edit_is_withdrawn_live_and_queued(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = Guest("Ana")
        first = await posted(http, CLEAN, 201, guest=ana)
        reply = await posted(http, "another comment", 201)
        mod = await new_moderator(server, http)
        queue = await open_moderation(server, mod)
        page = await open_public(server)

        r = await edit(http, first, TOXIC, ana)
        assert r.status_code == 202, r.text
        held = r.json()["comment"]
        assert held["status"] == "held" and held["body"] == TOXIC and held["seq"] is None
        assert await page.next() == {"type": "comment.removed", "seq": 3, "id": first["id"]}
        added = await queue.next()
        assert added["type"] == "queue.added" and added["item"]["id"] == first["id"]
        assert added["item"]["reasons"] == [TOXIC_REASON]
        assert [c["id"] for c in (await http.get(thread_url())).json()["comments"]] == [reply["id"]]
        events = await replay(server)
        assert events[0] == {"type": "comment.redacted", "seq": 1, "id": first["id"]}
        assert CLEAN not in json.dumps(events) and TOXIC not in json.dumps(events)

        # The moderator approves it after all: published again, with its new text.
        approved = await mod.decided("approve", first["id"])
        assert approved["body"] == TOXIC and approved["status"] == "published"
        published = await page.next()
        assert published["type"] == "comment.published"
        assert published["comment"]["edited_at"] == held["edited_at"]
        await page.close()
        await queue.close()


async def test_an_edit_is_held_when_the_classifier_fails(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = Guest("Ana")
        first = await posted(http, CLEAN, 201, guest=ana)
        await use_classifier(server, FailingClassifier())
        r = await edit(http, first, "an innocent change", ana)
        assert r.status_code == 202, r.text
        assert r.json()["comment"]["status"] == "held"
        mod = await new_moderator(server, http)
        (item,) = [i for i in await mod.queue() if i["id"] == first["id"]]
        assert item["reasons"] == [UNAVAILABLE] and item["scores"] == {}
        assert (await http.get(thread_url())).json()["comments"] == []


async def test_who_may_edit_and_when(serve: Serve) -> None:
    server = await serve(edit_window_s=60)
    async with server.client() as http:
        ana, bob = Guest("Ana"), Guest("Bob")
        first = await posted(http, CLEAN, 201, guest=ana)
        bob_first = await posted(http, "bob was here", 201, guest=bob)
        assert_error(await edit(http, first, "mine now", bob), 403, "forbidden")
        assert_error(await edit(http, first, "anonymous"), 401, "unauthenticated")
        assert_error(await edit(http, {**first, "id": "nope"}, "x", ana), 404, "not_found")
        assert_error(
            await edit(http, {**first, "article": "elsewhere"}, "x", ana), 404, "not_found"
        )
        assert_error(await edit(http, first, "   ", ana), 422, "empty_body")
        assert_error(await edit(http, first, "x" * 5001, ana), 422, "body_too_long")
        assert_error(await edit(http, first, 42, ana), 422, "invalid_body")
        r = await http.patch(
            comment_url(first["id"]),
            content=b'{"body": "x"}',
            headers={**ana.headers(), "Content-Type": "text/plain"},
        )
        assert_error(r, 415, "unsupported_media_type")
        r = await http.patch(
            comment_url(first["id"]),
            json={"body": "x"},
            headers={**ana.headers(), "Origin": "https://evil.example"},
        )
        assert_error(r, 403, "origin_not_allowed")

        # An SSO author edits with their token.
        token = sso_token("u7", "Sam")
        r = await http.post(thread_url(), json={"body": "signed in"}, headers=bearer(token))
        sam = r.json()["comment"]
        r = await edit(http, sam, "signed in, edited", headers=bearer(token))
        assert r.status_code == 200 and r.json()["comment"]["body"] == "signed in, edited"
        assert_error(await edit(http, sam, "not yours", ana), 403, "forbidden")

        # After the window: 403 edit_window_closed.
        await execute(
            server.node.store,
            "UPDATE comments SET created_at = :at WHERE id = :id",
            at=datetime.now(UTC) - timedelta(seconds=61),
            id=bob_first["id"],
        )
        assert_error(await edit(http, bob_first, "too late", bob), 403, "edit_window_closed")

        # A deleted comment is gone; a held one waits for its moderator.
        held = await posted(http, TOXIC, 202, guest=bob)
        r = await edit(http, held, "sorry", bob)
        assert_error(r, 409, "conflict")
        assert r.json()["comment"]["status"] == Status.HELD
        r = await http.request(
            "DELETE",
            comment_url(first["id"]),
            headers={**ana.headers(), "Content-Type": "application/json"},
        )
        assert r.status_code == 200
        assert_error(await edit(http, first, "back", ana), 404, "not_found")


async def test_editing_off(serve: Serve) -> None:
    server = await serve(edit_window_s=0)
    async with server.client() as http:
        ana = Guest("Ana")
        first = await posted(http, CLEAN, 201, guest=ana)
        assert_error(await edit(http, first, "changed", ana), 403, "edit_window_closed")
        r = await http.get("/api/v1/sites/news/config")
        assert r.json()["edit_window_s"] == 0


async def test_a_banned_word_in_an_edit_is_refused(serve: Serve) -> None:
    server = await serve(banned_words=["kumquat"])
    async with server.client() as http:
        ana = Guest("Ana")
        first = await posted(http, CLEAN, 201, guest=ana)
        assert_error(await edit(http, first, "a KUMQUAT", ana), 422, "banned_word")
        listed = (await http.get(thread_url())).json()["comments"]
        assert [c["body"] for c in listed] == [CLEAN]


async def test_edits_count_against_the_authors_rate_limit(serve: Serve) -> None:
    server = await serve(posts_per_minute_per_author=2)
    async with server.client() as http:
        ana = Guest("Ana")
        first = await posted(http, CLEAN, 201, guest=ana)  # the first of two a minute
        r = await edit(http, first, "a second take", ana)
        assert r.status_code == 200, r.text
        r = await edit(http, first, "a third take", ana)
        assert_error(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1
        listed = (await http.get(thread_url())).json()["comments"]
        assert [c["body"] for c in listed] == ["a second take"]
