"""Who may moderate (docs/api.md, "Moderation"): tokens from the command line, stored hashed;
401 without a valid one, 403 with another site's, 404 before 403; single-use, short-lived
socket tickets, so a token never travels in a URL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from comments.settings import Settings
from tests.conftest import RunningServer, add_site
from tests.moderation import (
    ARTICLE,
    CLEAN,
    TOXIC,
    Events,
    Moderator,
    bearer,
    cli,
    execute,
    mod_settings,
    moderation_socket_url,
    new_moderator,
    open_moderation,
    posted,
    rows,
)


@pytest.fixture
async def server(database_url: str, channel_prefix: str, start_server: Any) -> RunningServer:
    """A node with two sites, "news" and "sport"."""
    await add_site(database_url)
    await add_site(database_url, "sport")
    settings: Settings = mod_settings(database_url, "memory://", channel_prefix)
    running: RunningServer = await start_server(settings)
    return running


def moderation_calls(comment_id: str, site: str = "news") -> list[tuple[str, str, Any]]:
    """(method, path, json body) of every moderator endpoint."""
    return [
        ("POST", "/api/v1/moderation/tickets", None),
        ("GET", f"/api/v1/moderation/sites/{site}/queue", None),
        ("GET", f"/api/v1/moderation/sites/{site}/audit", None),
        ("POST", f"/api/v1/moderation/comments/{comment_id}/approve", None),
        ("POST", f"/api/v1/moderation/comments/{comment_id}/reject", None),
        ("POST", f"/api/v1/moderation/sites/{site}/authors/g_someone/ban", {"reason": "x"}),
        ("DELETE", f"/api/v1/moderation/sites/{site}/authors/g_someone/ban", None),
        ("PATCH", f"/api/v1/moderation/sites/{site}/articles/{ARTICLE}", {"closed": True}),
    ]


async def call(
    http: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    return await http.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer mod_not-a-real-token"},
        {"Authorization": "Basic YW5hOnNlY3JldA=="},
    ],
    ids=["none", "empty-bearer", "unknown-token", "basic-auth"],
)
async def test_no_valid_token_is_401_everywhere(
    server: RunningServer, headers: dict[str, str]
) -> None:
    async with server.client() as http:
        held = await posted(http, TOXIC, 202)
        # The token is checked first: even an unknown comment id or site is 401.
        calls = moderation_calls(held["id"]) + moderation_calls("nope", site="nowhere")
        for method, path, body in calls:
            r = await call(http, method, path, body, headers)
            assert r.status_code == 401, (method, path, r.text)
            assert r.json()["error"]["code"] == "unauthenticated"
        ana = await new_moderator(server, http)
        # Nothing happened.
        (item,) = await ana.queue()
        assert item["id"] == held["id"] and item["status"] == "held"


async def test_revoked_token_is_401(server: RunningServer, database_url: str) -> None:
    async with server.client() as http:
        ana = await new_moderator(server, http)
        ben = await new_moderator(server, http, "ben")
        held = await posted(http, TOXIC, 202)
        assert await ana.queue() != []
        ticket = await ana.ticket()

        done = await cli(database_url, "moderator", "revoke", "ana", "--site", "news")
        assert done.returncode == 0, done.stderr

        for method, path, body in moderation_calls(held["id"]):
            r = await call(http, method, path, body, bearer(ana.token))
            assert r.status_code == 401, (method, path, r.text)
        # A ticket taken before the revocation dies with it.
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(moderation_socket_url(server, ticket))
        assert refused.value.response.status_code == 401
        # Other moderators go on.
        assert [i["id"] for i in await ben.queue()] == [held["id"]]
        # Revoking again: nothing to revoke.
        again = await cli(database_url, "moderator", "revoke", "ana", "--site", "news")
        assert again.returncode != 0 and "no active moderator" in again.stderr


async def test_another_sites_token_is_403_and_unknown_comments_404_first(
    server: RunningServer,
) -> None:
    async with server.client() as http:
        ana = await new_moderator(server, http)  # news
        sport = await new_moderator(server, http, "sam", site="sport")
        foreign = await posted(http, TOXIC, 202, site="sport")
        for method, path, body in moderation_calls(foreign["id"], site="sport"):
            if path == "/api/v1/moderation/tickets":
                continue  # a ticket names no site
            r = await call(http, method, path, body, bearer(ana.token))
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["error"]["code"] == "forbidden"
        for action in ("approve", "reject"):
            r = await ana.act(action, "no-such-comment")
            assert r.status_code == 404, r.text
        # The comment is untouched, and its own site's moderator can decide it.
        (item,) = await sport.queue()
        assert item["id"] == foreign["id"] and item["status"] == "held"
        assert (await sport.decided("approve", foreign["id"]))["status"] == "published"


async def test_ticket_opens_one_socket_once(server: RunningServer) -> None:
    async with server.client() as http:
        ana = await new_moderator(server, http)
        ticket = await ana.ticket()
        # The socket URL carries the ticket, never the token.
        assert ana.token not in moderation_socket_url(server, ticket)
        ws = Events(await websockets.connect(moderation_socket_url(server, ticket)))
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(moderation_socket_url(server, ticket))
        assert refused.value.response.status_code == 401
        # The first socket works.
        held = await posted(http, TOXIC, 202)
        event = await ws.next()
        assert event["type"] == "queue.added" and event["item"]["id"] == held["id"]
        await ws.close()


def _url(server: RunningServer, query: str, site: str = "news") -> str:
    return f"{server.ws_url}/ws/v1/moderation/sites/{site}{query}"


async def test_socket_refusals(server: RunningServer) -> None:
    async with server.client() as http:
        ana = await new_moderator(server, http)
        expired = await ana.ticket()
        await execute(
            server.node.store,
            "UPDATE tickets SET expires_at = :past",
            past=datetime(2000, 1, 1, tzinfo=UTC),
        )
        cases = [
            ("no ticket", _url(server, ""), 401),
            ("made-up ticket", _url(server, "?ticket=made-up"), 401),
            ("the token itself", _url(server, f"?ticket={ana.token}"), 401),
            ("expired ticket", _url(server, f"?ticket={expired}"), 401),
            ("another site", _url(server, f"?ticket={await ana.ticket()}", site="sport"), 403),
        ]
        for name, url, status in cases:
            with pytest.raises(InvalidStatus) as refused:
                await websockets.connect(url)
            assert refused.value.response.status_code == status, name
        # A fresh ticket still works after all that.
        mod = await open_moderation(server, ana)
        await mod.close()


async def test_cli_prints_a_token_once_and_stores_only_its_hash(
    server: RunningServer, database_url: str
) -> None:
    done = await cli(database_url, "moderator", "add", "ana", "--site", "news")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token and "\n" not in token
    assert "shown once" in done.stderr

    stored = await rows(server.node.store, "SELECT * FROM moderators")
    assert len(stored) == 1
    assert all(token not in str(value) for value in stored[0])
    assert stored[0].token_hash == hashlib.sha256(token.encode()).hexdigest()

    async with server.client() as http:
        ana = Moderator(http, token)
        await posted(http, CLEAN, 201)
        assert await ana.queue() == []
        # Adding the same moderator again prints no second token.
        again = await cli(database_url, "moderator", "add", "ana", "--site", "news")
        assert again.returncode != 0 and again.stdout == ""
        assert "exists" in again.stderr
        # Unknown site.
        nowhere = await cli(database_url, "moderator", "add", "ana", "--site", "nowhere")
        assert nowhere.returncode != 0 and nowhere.stdout == ""
        # After a revocation a new token can be issued; only it works.
        revoked = await cli(database_url, "moderator", "revoke", "ana", "--site", "news")
        assert revoked.returncode == 0
        fresh = await cli(database_url, "moderator", "add", "ana", "--site", "news")
        assert fresh.returncode == 0, fresh.stderr
        assert fresh.stdout.strip() != token
        r = await http.get("/api/v1/moderation/sites/news/queue", headers=bearer(token))
        assert r.status_code == 401
        assert await Moderator(http, fresh.stdout.strip()).queue() == []
