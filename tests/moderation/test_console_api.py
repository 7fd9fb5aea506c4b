"""The console's API (docs/api.md, "Moderation queue", "Comment context", "Authors"):
the queue paged by stored risk, a comment's thread context, the author view and notes.
On SQLite and PostgreSQL, over a real server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.conftest import RunningServer, add_site
from tests.moderation import (
    ARTICLE,
    CLEAN,
    TOXIC,
    FailingClassifier,
    Guest,
    bearer,
    listed_ids,
    mod_settings,
    new_moderator,
    post,
    posted,
    thread_url,
    use_classifier,
)

Serve = Callable[..., Awaitable[RunningServer]]
QUEUE = "/api/v1/moderation/sites/news/queue"


@pytest.fixture
def serve(database_url: str, channel_prefix: str, start_server: Any) -> Serve:
    async def serve(site: dict[str, Any] | None = None) -> RunningServer:
        await add_site(database_url, **(site or {}))
        await add_site(database_url, slug="other")
        server: RunningServer = await start_server(
            mod_settings(database_url, "memory://", channel_prefix)
        )
        return server

    return serve


async def test_queue_pages_by_stored_risk_with_filters_and_counts(serve: Serve) -> None:
    server = await serve(site={"premoderated": True})
    async with server.client() as http:
        ana = await new_moderator(server, http)
        bodies = [CLEAN, TOXIC, "what a load of shit", "the minister is wrong", "fine piece"]
        held = [await posted(http, body, 202) for body in bodies]
        await use_classifier(server, FailingClassifier())
        unscored = await posted(http, "posted while the classifier is down", 202)
        whole = await ana.queue()
        assert whole[0]["id"] == unscored["id"]
        assert {i["id"] for i in whole[1:]} == {c["id"] for c in held}

        seen: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(10):  # bounded: 6 items in pages of 2
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            r = await http.get(QUEUE, params=params, headers=bearer(ana.token))
            assert r.status_code == 200, r.text
            body = r.json()
            seen += body["items"]
            cursor = body["next"]
            if cursor is None:
                break
        assert [i["id"] for i in seen] == [i["id"] for i in whole]
        scored = [max(i["scores"].values()) for i in seen[1:]]
        assert scored == sorted(scored, reverse=True)
        assert body["counts"] == {
            "all": 6,
            "held": 6,
            "reported": 0,
            "premoderated": 6,
            "unscored": 1,
        }
        r = await http.get(QUEUE, params={"filter": "unscored"}, headers=bearer(ana.token))
        assert [i["id"] for i in r.json()["items"]] == [unscored["id"]]


@pytest.mark.parametrize(
    "params", [{"cursor": "nope"}, {"filter": "everything"}, {"limit": "0"}, {"limit": "x"}]
)
async def test_queue_refuses_bad_parameters(serve: Serve, params: dict[str, str]) -> None:
    server = await serve()
    async with server.client() as http:
        ana = await new_moderator(server, http)
        r = await http.get(QUEUE, params=params, headers=bearer(ana.token))
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "invalid_parameter"


async def test_context_shows_parent_earlier_comments_and_the_article(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = await new_moderator(server, http)
        guest = Guest("Ana")
        first = await posted(http, "first on the story", 201, guest=guest)
        r = await http.post(
            thread_url(),
            json={"body": "a fair reply", "parent": first["id"]},
            headers=guest.headers(),
        )
        assert r.status_code == 201, r.text
        r = await http.post(
            thread_url(),
            json={"body": TOXIC, "parent": first["id"]},
            headers=guest.headers(),
        )
        assert r.status_code == 202, r.text
        held = r.json()["comment"]
        r = await http.get(
            f"/api/v1/moderation/comments/{held['id']}/context", headers=bearer(ana.token)
        )
        assert r.status_code == 200, r.text
        found = r.json()
        assert found["comment"]["id"] == held["id"]
        assert found["parent"]["id"] == first["id"]
        assert [c["body"] for c in found["before"]] == ["a fair reply"]
        assert found["article"] == {
            "article": ARTICLE,
            "title": None,
            "url": None,
            "closed": False,
            "premoderated": False,
            "published": 2,
        }
        # The contract's order: 401 token, 404 comment, 403 other site.
        url = f"/api/v1/moderation/comments/{held['id']}/context"
        assert (await http.get(url)).status_code == 401
        r = await http.get("/api/v1/moderation/comments/nope/context", headers=bearer(ana.token))
        assert r.status_code == 404
        other = await new_moderator(server, http, "oli", site="other")
        assert (await http.get(url, headers=bearer(other.token))).status_code == 403


async def test_author_panel_counts_history_decisions_notes_and_ban(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = await new_moderator(server, http)
        guest = Guest("Troll")
        await posted(http, CLEAN, 201, guest=guest)
        r = await post(http, TOXIC, guest=guest)
        assert r.status_code == 202, r.text
        held = r.json()["comment"]
        await ana.decided("reject", held["id"])
        assert guest.author_id is not None
        url = f"/api/v1/moderation/sites/news/authors/{guest.author_id}"
        r = await http.post(
            f"{url}/notes", json={"body": "warned once by mail"}, headers=bearer(ana.token)
        )
        assert r.status_code == 201, r.text
        r = await http.post(f"{url}/ban", json={"reason": "abuse"}, headers=bearer(ana.token))
        assert r.status_code == 200, r.text

        r = await http.get(url, headers=bearer(ana.token))
        assert r.status_code == 200, r.text
        author = r.json()["author"]
        assert author["name"] == "Troll"
        assert author["kind"] == "guest"
        assert author["counts"] == {"published": 1, "held": 0, "rejected": 1, "reported": 0}
        assert [c["status"] for c in author["comments"]] == ["rejected", "published"]
        assert author["comments"][0]["decision"]["action"] == "reject"
        assert author["comments"][0]["decision"]["moderator"] == "ana"
        assert [n["body"] for n in author["notes"]] == ["warned once by mail"]
        assert author["banned"] is True and author["ban"]["reason"] == "abuse"
        log = await http.get("/api/v1/moderation/sites/news/audit", headers=bearer(ana.token))
        assert "note" in [e["action"] for e in log.json()["entries"]]

        assert (await http.get(url)).status_code == 401
        r = await http.get(
            "/api/v1/moderation/sites/news/authors/nobody", headers=bearer(ana.token)
        )
        assert r.status_code == 404
        other = await new_moderator(server, http, "oli", site="other")
        assert (await http.get(url, headers=bearer(other.token))).status_code == 403
        for bad in ({}, {"body": ""}, {"body": 3}, {"body": "x" * 2001}):
            r = await http.post(f"{url}/notes", json=bad, headers=bearer(ana.token))
            assert r.status_code == 422, r.text


SEARCH = "/api/v1/moderation/sites/news/comments"


async def test_search_finds_a_published_comment_by_a_word_and_it_is_taken_down(
    serve: Serve,
) -> None:
    server = await serve()
    async with server.client() as http:
        ana = await new_moderator(server, http)
        bea, cid = Guest("Bea"), Guest("Cid")
        target = await posted(http, "The Gazprom deal was a scandal", 201, guest=bea)
        await posted(http, "nothing to see here", 201, guest=cid)
        await posted(http, "gazprom again, by another reader", 201, guest=cid)

        async def found(**params: str) -> list[str]:
            r = await http.get(SEARCH, params=params, headers=bearer(ana.token))
            assert r.status_code == 200, r.text
            return [i["body"] for i in r.json()["items"]]

        assert await found(q="gazprom") == [
            "gazprom again, by another reader",
            "The Gazprom deal was a scandal",
        ]
        assert await found(q="gazprom scandal") == ["The Gazprom deal was a scandal"]
        assert await found(q="gazprom", author=bea.author_id or "") == [target["body"]]
        assert await found(q="gaz") == []  # words, not substrings: no LIKE scan
        for odd in ('"', "gazprom OR", "NEAR(", "*", "-", "'; drop"):
            await found(q=odd)  # any text a moderator types is a search, never a 5xx
        await ana.decided("reject", target["id"])
        assert await found(q="gazprom", status="published") == ["gazprom again, by another reader"]
        assert await found(q="scandal", status="rejected") == [target["body"]]
        assert target["id"] not in await listed_ids(http)
        log = await http.get("/api/v1/moderation/sites/news/audit", headers=bearer(ana.token))
        entry = log.json()["entries"][0]
        assert entry["target"] == f"comment:{target['id']}"
        assert entry["about"] == {
            "excerpt": target["body"],
            "article": ARTICLE,
            "title": None,
        }


async def test_search_pages_by_keyset_and_checks_access(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = await new_moderator(server, http)
        reader = Guest("Dan")
        bodies = [f"budget remark number {n}" for n in range(7)]
        for body in bodies:
            await posted(http, body, 201, guest=reader)
        seen: list[str] = []
        cursor = None
        for _ in range(10):  # bounded: 7 items in pages of 3
            params = {"q": "budget", "limit": "3", **({"cursor": cursor} if cursor else {})}
            r = await http.get(SEARCH, params=params, headers=bearer(ana.token))
            assert r.status_code == 200, r.text
            seen += [i["body"] for i in r.json()["items"]]
            cursor = r.json()["next"]
            if cursor is None:
                break
        assert seen == bodies[::-1]
        assert (await http.get(SEARCH, params={"q": "budget"})).status_code == 401
        other = await new_moderator(server, http, "oli", site="other")
        r = await http.get(SEARCH, headers=bearer(other.token))
        assert r.status_code == 403
        for bad in (
            {"cursor": "x"},
            {"status": "pending"},
            {"since": "yesterday"},
            {"until": "2026-01-01T00:00:00"},
            {"q": "x" * 201},
            {"limit": "0"},
        ):
            r = await http.get(SEARCH, params=bad, headers=bearer(ana.token))
            assert r.status_code == 422, (bad, r.text)
