"""``order=top`` on the thread endpoint (docs/api.md): most liked first, then newest,
keyset-paged with ``cursor``; never served from the read cache; bad cursors are 422.
Real server over sockets, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api import sso_token
from tests.moderation import Guest, posted, thread_url
from tests.reactions.test_reactions_api import Serve, react
from tests.reactions.test_reactions_api import serve as serve  # the fixture


async def _top(http: httpx.AsyncClient, **params: Any) -> httpx.Response:
    return await http.get(thread_url(), params={"order": "top", **params})


async def test_top_order_pages_by_likes_then_newest(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = Guest("Ana")
        ids = [(await posted(http, f"comment {i}", 201, guest=ana))["id"] for i in range(5)]
        # Likes: two on comment 1, one on comment 3, none on the rest.
        for reader, cid in (("u1", ids[1]), ("u2", ids[1]), ("u1", ids[3])):
            bearer = {"Authorization": f"Bearer {sso_token(reader)}"}
            assert (await react(http, cid, "PUT", bearer)).status_code == 200
        expected = [ids[1], ids[3], ids[4], ids[2], ids[0]]

        seen: list[str] = []
        counts: list[int] = []
        params: dict[str, Any] = {"limit": 2}
        for _ in range(5):  # bounded: 3 pages expected
            r = await _top(http, **params)
            assert r.status_code == 200, r.text
            doc = r.json()
            assert "etag" not in r.headers  # never the shared cache
            seen += [c["id"] for c in doc["comments"]]
            counts += [c["reactions"] for c in doc["comments"]]
            if doc["next"] is None:
                break
            params = {"limit": 2, "cursor": doc["next"]}
        assert seen == expected
        assert counts == [2, 1, 0, 0, 0]

        # A like reorders the first page at once.
        for reader in ("u3", "u4", "u5"):
            bearer = {"Authorization": f"Bearer {sso_token(reader)}"}
            assert (await react(http, ids[0], "PUT", bearer)).status_code == 200
        first = (await _top(http, limit=1)).json()["comments"]
        assert [c["id"] for c in first] == [ids[0]]

        for bad in ("x", "1", "1.2.3", "-1.2", "1." + "9" * 19):
            r = await _top(http, cursor=bad)
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["error"]["code"] == "invalid_parameter"
        empty = await http.get(thread_url("no/such/article"), params={"order": "top"})
        assert empty.json() == {"comments": [], "next": None, "latest_seq": 0}
