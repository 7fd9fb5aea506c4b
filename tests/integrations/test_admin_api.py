"""The moderators' read-only view of their site's webhooks and delivery log."""

from __future__ import annotations

from typing import Any

from comments.models import Status
from comments.settings import Settings
from comments.store import create_store
from comments.store.webhooks import WebhookStore
from tests.conftest import OPEN_SITE, add_site, api_client


async def test_moderators_see_their_sites_webhooks_and_deliveries_but_no_secret(
    database_url: str, start_server: Any, channel_prefix: str
) -> None:
    await add_site(database_url, "news", **OPEN_SITE)
    await add_site(database_url, "other", **OPEN_SITE)
    setup = create_store(database_url)
    try:
        # Not delivered here (private address refused): the log says why.
        hook = await WebhookStore(setup).add("news", "http://127.0.0.1:9/hook", [])
        author, _ = await setup.create_guest("news", "Ana")
        await setup.create_comment(
            site="news",
            article="a",
            author=author,
            body="x",
            parent=None,
            status=Status.PUBLISHED,
        )
    finally:
        await setup.close()
    settings = Settings(
        database_url=database_url, broker_url="memory://", channel_prefix=channel_prefix
    )
    server = await start_server(settings)
    token = await server.node.review.add_moderator("news", "ana")
    other = await server.node.review.add_moderator("other", "bo")
    headers = {"Authorization": f"Bearer {token}"}
    async with api_client(server.url) as http:
        r = await http.get("/api/v1/moderation/sites/news/webhooks", headers=headers)
        assert r.status_code == 200, r.text
        (listed,) = r.json()["webhooks"]
        assert listed["url"] == hook.url and listed["id"] == hook.id
        assert "secret" not in r.text and hook.secret not in r.text
        r = await http.get(
            f"/api/v1/moderation/sites/news/webhooks/{hook.id}/deliveries", headers=headers
        )
        assert r.status_code == 200, r.text
        (entry,) = r.json()["deliveries"]
        assert entry["event"] == "comment.published"
        assert entry["status"] in ("pending", "delivered")
        for path, status, code in [
            (
                f"/api/v1/moderation/sites/news/webhooks/{hook.id + 99}/deliveries",
                404,
                "unknown_webhook",
            ),
            ("/api/v1/moderation/sites/news/webhooks/x/deliveries", 404, "unknown_webhook"),
            (
                f"/api/v1/moderation/sites/news/webhooks/{hook.id}/deliveries?limit=0",
                422,
                "invalid_limit",
            ),
        ]:
            r = await http.get(path, headers=headers)
            assert (r.status_code, r.json()["error"]["code"]) == (status, code)
        r = await http.get(
            "/api/v1/moderation/sites/news/webhooks", headers={"Authorization": f"Bearer {other}"}
        )
        assert r.status_code == 403
        r = await http.get("/api/v1/moderation/sites/news/webhooks")
        assert r.status_code == 401


async def test_a_scoped_moderator_sees_only_the_deliveries_about_their_sections(
    database_url: str, start_server: Any, channel_prefix: str
) -> None:
    await add_site(database_url, "news", **OPEN_SITE)
    setup = create_store(database_url)
    try:
        hook = await WebhookStore(setup).add("news", "http://127.0.0.1:9/hook", [])
        author, _ = await setup.create_guest("news", "Ana")
        for article in ("sport_news/final", "politics/vote", "sportXnews/other"):
            await setup.create_comment(
                site="news",
                article=article,
                author=author,
                body=f"about {article}",
                parent=None,
                status=Status.PUBLISHED,
            )
    finally:
        await setup.close()
    settings = Settings(
        database_url=database_url, broker_url="memory://", channel_prefix=channel_prefix
    )
    server = await start_server(settings)
    review = server.node.review
    everyone = await review.add_moderator("news", "chief")
    sport = await review.add_moderator("news", "sporty", scopes=["sport_news/"])
    url = f"/api/v1/moderation/sites/news/webhooks/{hook.id}/deliveries"
    async with api_client(server.url) as http:

        async def keys(token: str) -> list[str]:
            r = await http.get(url, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            return sorted(e["order_key"] for e in r.json()["deliveries"])

        assert await keys(everyone) == ["politics/vote", "sportXnews/other", "sport_news/final"]
        # Only their section ("_" in a scope is a character, not a LIKE wildcard).
        assert await keys(sport) == ["sport_news/final"]
