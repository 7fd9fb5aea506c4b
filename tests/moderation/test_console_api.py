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
