"""Ids in paths that no database can hold: a NUL in a comment id or an author id names
nothing (404), on PostgreSQL as on SQLite, rather than failing at the query (PostgreSQL
refuses NUL in text: a 503 "storage unavailable" that no retry cures). Real server over
sockets."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import RunningServer, add_site
from tests.moderation import CLEAN, Guest, bearer, mod_settings, posted, thread_url

AUTHOR_PATHS = [
    ("GET", "/api/v1/moderation/sites/news/authors/{}"),
    ("POST", "/api/v1/moderation/sites/news/authors/{}/notes"),
    ("GET", "/api/v1/moderation/sites/news/authors/{}/export"),
    ("POST", "/api/v1/moderation/sites/news/authors/{}/erase"),
    ("POST", "/api/v1/moderation/sites/news/authors/{}/ban"),
    ("DELETE", "/api/v1/moderation/sites/news/authors/{}/ban"),
]


@pytest.mark.parametrize("odd", ["%00", "g_a%00b"])
async def test_a_nul_in_an_id_is_not_found(
    database_url: str, channel_prefix: str, start_server: Any, odd: str
) -> None:
    await add_site(database_url)
    server: RunningServer = await start_server(
        mod_settings(database_url, "memory://", channel_prefix)
    )
    admin = bearer(await server.node.review.add_moderator("news", "ana", role="admin"))
    async with server.client() as http:
        reader = Guest("Ana")
        await posted(http, CLEAN, 201, guest=reader)
        answers = {}
        for method in ("PUT", "DELETE"):
            r = await http.request(
                method, f"{thread_url()}/{odd}/reaction", content=b"{}", headers=reader.headers()
            )
            answers[f"{method} reaction"] = (r.status_code, r.json()["error"]["code"])
        for method, path in AUTHOR_PATHS:
            body = {"body": "a note"} if path.endswith("/notes") else {}
            r = await http.request(
                method, path.format(odd), json=None if method == "GET" else body, headers=admin
            )
            answers[f"{method} {path}"] = (r.status_code, r.json()["error"]["code"])
        assert answers == dict.fromkeys(answers, (404, "not_found"))
        assert (await http.get("/readyz")).status_code == 200
