"""Articles know their title and URL (docs/api.md, "Article pages"): the widget's first
post names the page (from one of the site's origins only), moderators correct it, queue
items carry it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from comments.settings import Settings
from tests.conftest import RunningServer, add_site
from tests.moderation import ARTICLE, TOXIC, bearer, mod_settings, new_moderator, thread_url


@pytest.fixture
async def server(database_url: str, channel_prefix: str, start_server: Any) -> RunningServer:
    await add_site(database_url)
    settings: Settings = mod_settings(database_url, "memory://", channel_prefix)
    running: RunningServer = await start_server(settings)
    return running


async def post_from(http: httpx.AsyncClient, article: str, title: Any, url: Any) -> httpx.Response:
    return await http.post(
        thread_url(article),
        json={"body": TOXIC, "author_name": "Ana", "article_title": title, "article_url": url},
    )


async def test_first_post_names_the_page_and_moderators_edit_it(server: RunningServer) -> None:
    async with server.client() as http:
        ana = await new_moderator(server, http)
        url = "https://partner.example/2025/07/lavrov-kim?utm=x#comments"
        r = await post_from(http, ARTICLE, "  Lavrov meets\n Kim ", url)
        assert r.status_code == 202, r.text
        # A later post names nothing: the first page did.
        r = await post_from(http, ARTICLE, "Something else", "https://partner.example/other")
        assert r.status_code == 202, r.text
        # Another origin's page does not name this site's article.
        r = await post_from(http, "elsewhere", "Spoof", "https://evil.example/elsewhere")
        assert r.status_code == 202, r.text
        items = {(i["article"], i["article_title"], i["article_url"]) for i in await ana.queue()}
        assert items == {
            (ARTICLE, "Lavrov meets Kim", "https://partner.example/2025/07/lavrov-kim?utm=x"),
            ("elsewhere", None, None),
        }
        for bad in ({"url": "javascript:alert(1)"}, {"title": 5}, {"url": "x" * 3000}):
            r = await http.patch(
                f"/api/v1/moderation/sites/news/articles/{ARTICLE}",
                json=bad,
                headers=bearer(ana.token),
            )
            assert r.status_code == 422, (bad, r.text)
        r = await post_from(http, "bad", 7, None)
        assert r.status_code == 422, r.text
        r = await http.patch(
            f"/api/v1/moderation/sites/news/articles/{ARTICLE}",
            json={"title": "Lavrov and Kim", "url": "https://partner.example/lk"},
            headers=bearer(ana.token),
        )
        assert r.status_code == 200, r.text
        assert (
            r.json()["title"] == "Lavrov and Kim"
            and r.json()["url"] == "https://partner.example/lk"
        )
        assert {i["article_title"] for i in await ana.queue()} == {"Lavrov and Kim", None}
        audit = await http.get("/api/v1/moderation/sites/news/audit", headers=bearer(ana.token))
        entry = audit.json()["entries"][0]
        assert entry["action"] == "article"
        assert entry["detail"]["title"] == {"old": "Lavrov meets Kim", "new": "Lavrov and Kim"}
