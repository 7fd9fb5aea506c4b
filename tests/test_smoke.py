"""End to end on one server: a comment posted over HTTP arrives on an open socket."""

from __future__ import annotations

import json

import websockets

from comments.settings import Settings
from tests.conftest import add_site


async def test_posted_comment_arrives_live(settings: Settings, start_server) -> None:
    await add_site(settings.database_url)
    server = await start_server(settings)
    article = "2025/07/lavrov-kim"
    async with (
        websockets.connect(f"{server.ws_url}/ws/v1/sites/news/articles/{article}") as ws,
        server.client() as http,
    ):
        r = await http.post(
            f"/api/v1/sites/news/articles/{article}/comments",
            json={"body": "  first!  ", "author_name": "Ana"},
        )
        assert r.status_code == 201, r.text
        posted = r.json()["comment"]
        assert posted["body"] == "first!" and posted["seq"] == 1
        event = json.loads(await ws.recv())
        assert event == {"type": "comment.published", "seq": 1, "comment": posted}
