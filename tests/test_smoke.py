"""End to end on one server: a comment posted over HTTP arrives on an open socket."""

from __future__ import annotations

import gc
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


async def test_a_started_node_hides_its_start_up_objects_from_the_collector(
    settings: Settings, start_server
) -> None:
    # What `comments serve` does: a full collection then walks only what came later.
    await add_site(settings.database_url)
    assert gc.get_freeze_count() == 0
    try:
        server = await start_server(settings, freeze_gc=True)
        # Every module, the bundled model, the node's resources: far more than this.
        assert gc.get_freeze_count() > 50_000
        async with server.client() as http:
            r = await http.post(
                "/api/v1/sites/news/articles/frozen/comments",
                json={"body": "still works", "author_name": "Ana"},
            )
        assert r.status_code == 201, r.text
        await server.stop()  # its refreezing stops with it
    finally:
        gc.unfreeze()
