"""Tombstones and permalinks (docs/api.md, "Tombstones", "Permalinks"): a removed
comment with published replies stays in listings as a placeholder with no text or
author, until its last reply goes; ``…/context`` returns a comment with its neighbours
and the cursors to page either way. Real server, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.api import assert_error
from tests.conftest import RunningServer, add_site
from tests.moderation import (
    Guest,
    mod_settings,
    new_moderator,
    posted,
    thread_url,
)

Serve = Callable[..., Awaitable[RunningServer]]
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def serve(database_url: str, channel_prefix: str, start_server: Any) -> Serve:
    async def serve(**site: Any) -> RunningServer:
        await add_site(database_url, **site)
        server: RunningServer = await start_server(
            mod_settings(database_url, "memory://", channel_prefix)
        )
        return server

    return serve


async def reply(
    http: httpx.AsyncClient, parent: dict[str, Any], body: str, guest: Guest | None = None
) -> dict[str, Any]:
    guest = guest or Guest("Bob")
    r = await http.post(
        thread_url(),
        json={"body": body, "parent": parent["id"], "author_name": guest.name},
        headers=guest.headers(),
    )
    assert r.status_code == 201, r.text
    guest.token = r.json().get("guest_token", guest.token)
    comment: dict[str, Any] = r.json()["comment"]
    return comment


async def delete(http: httpx.AsyncClient, comment: dict[str, Any], guest: Guest) -> None:
    r = await http.request(
        "DELETE", f"{thread_url()}/{comment['id']}", headers={**guest.headers(), **JSON}
    )
    assert r.status_code == 200, r.text


async def listed(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await http.get(thread_url(), params=params)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["comments"]
    return found


def tombstone(comment: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": comment["id"],
        "site": comment["site"],
        "article": comment["article"],
        "parent": comment["parent"],
        "tombstone": True,
        "status": "removed",
        "author": None,
        "body": None,
        "seq": comment["seq"],
    }


async def test_a_removed_parent_stays_as_a_tombstone_until_its_last_reply_goes(
    serve: Serve,
) -> None:
    server = await serve()
    async with server.client() as http:
        ana, bob, cat = Guest("Ana Secret"), Guest("Bob"), Guest("Cat")
        parent = await posted(http, "the parent's private words", 201, guest=ana)
        alone = await posted(http, "no replies here", 201, guest=ana)
        first = await reply(http, parent, "first reply", bob)
        second = await reply(http, parent, "second reply", cat)
        await delete(http, parent, ana)
        await delete(http, alone, ana)

        for order in ("oldest", "newest"):
            page = await listed(http, order=order)
            expected = [tombstone(parent), first, second]
            assert page == (expected if order == "oldest" else expected[::-1])
            text = json.dumps(page)
            assert "private words" not in text and "Ana Secret" not in text
            assert "no replies here" not in text

        # A moderator's reject leaves one too; a tombstone over a tombstone as well.
        mod = await new_moderator(server, http)
        nested = await reply(http, first, "nested reply", cat)
        await mod.decided("reject", first["id"])
        page = await listed(http)
        assert [c["id"] for c in page] == [parent["id"], first["id"], second["id"], nested["id"]]
        assert page[1] == tombstone(first)

        await delete(http, second, cat)
        await delete(http, nested, cat)
        # The last reply gone: no tombstone left.
        assert await listed(http) == []


async def test_context_returns_a_deep_comment_with_its_neighbours(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        guest = Guest("Ana")
        all_ids = [
            (await posted(http, f"comment {n:03d}", 201, guest=guest))["id"] for n in range(60)
        ]
        target = all_ids[25]
        r = await http.get(f"{thread_url()}/{target}/context", params={"limit": 10})
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["comment"]["id"] == target and data["comment"]["body"] == "comment 025"
        assert [c["id"] for c in data["before"]] == all_ids[15:25]
        assert [c["id"] for c in data["after"]] == all_ids[26:36]
        assert data["latest_seq"] == 60
        # The cursors page on from the edges, as the thread endpoint takes them.
        older = await listed(http, order="newest", before=data["cursors"]["before"], limit=100)
        assert [c["id"] for c in older] == all_ids[:15][::-1]
        newer = await listed(http, order="oldest", after=data["cursors"]["after"], limit=100)
        assert [c["id"] for c in newer] == all_ids[36:]

        # Near the ends: no cursor where there is nothing more.
        r = await http.get(f"{thread_url()}/{all_ids[1]}/context", params={"limit": 5})
        assert r.json()["cursors"]["before"] is None and r.json()["before"][0]["id"] == all_ids[0]
        assert r.json()["cursors"]["after"] == r.json()["after"][-1]["seq"]
        r = await http.get(f"{thread_url()}/{all_ids[-1]}/context")
        assert r.json()["after"] == [] and r.json()["cursors"]["after"] is None
        assert len(r.json()["before"]) == 20

        assert_error(await http.get(f"{thread_url()}/nope/context"), 404, "not_found")
        r = await http.get(f"/api/v1/sites/news/articles/elsewhere/comments/{target}/context")
        assert_error(r, 404, "not_found")
        assert_error(
            await http.get(f"{thread_url()}/{target}/context", params={"limit": "0"}),
            422,
            "invalid_parameter",
        )
        assert_error(
            await http.get(f"{thread_url()}/{target}/context", params={"limit": "x"}),
            422,
            "invalid_parameter",
        )
        # A deleted comment has no permalink.
        await delete(http, {"id": all_ids[30]}, guest)
        assert_error(await http.get(f"{thread_url()}/{all_ids[30]}/context"), 404, "not_found")


async def test_context_carries_the_tombstone_of_a_removed_parent(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = Guest("Ana")
        parent = await posted(http, "going away", 201, guest=ana)
        child = await reply(http, parent, "staying")
        await delete(http, parent, ana)
        r = await http.get(f"{thread_url()}/{child['id']}/context")
        assert r.json()["before"] == [tombstone(parent)]
        assert "going away" not in r.text
