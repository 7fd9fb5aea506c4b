"""Classic SQL injection strings in every text a reader, a moderator or an operator can
send: each is stored and returned exactly as typed, or refused with a clean 4xx where
the field has a format; afterwards every table is still there with its rows.

Runs on SQLite and PostgreSQL: both are reached only through bound parameters.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
import websockets
from websockets.exceptions import InvalidStatus

from comments import cli
from comments.settings import Settings
from tests.conftest import RunningServer, add_site
from tests.moderation import Guest, bearer, post, rows

PAYLOADS = [
    "' OR 1=1 --",
    "' OR '1'='1",
    '" OR ""="',
    "admin'--",
    "'; DROP TABLE comments; --",
    '"; DROP TABLE comments; --',
    "Robert'); DROP TABLE students;--",
    "1; DELETE FROM sites WHERE 1=1",
    "' UNION SELECT token_hash FROM moderators --",
    "' UNION SELECT NULL, NULL, version() --",
    "1 UNION ALL SELECT name FROM sqlite_master",
    "'; UPDATE comments SET status='published'; --",
    "') OR ('x')=('x",
    "\\'",
    "\\'; DROP TABLE sites; --",
    "%27",
    "%27%20OR%201%3D1",
    "$1; --",
    ":name OR 1=1",
    "?; SELECT 1",
    "'' /* comment */ --",
    "';SELECT pg_sleep(0);--",
]
ARTICLE = "2025/07/lavrov-kim"
THREAD = f"/api/v1/sites/news/articles/{quote(ARTICLE, safe='')}/comments"


@dataclass
class Stack:
    server: RunningServer
    http: httpx.AsyncClient
    token: str
    seed: dict[str, Any]  # a comment posted before the attack
    guest: Guest
    tables: set[str]

    async def intact(self) -> None:
        """Every table is still there, the seed comment still listed, the site and the
        moderator still working."""
        assert await table_names(self.server) == self.tables
        listed = await self.http.get(THREAD)
        assert listed.status_code == 200
        assert self.seed["id"] in [c["id"] for c in listed.json()["comments"]]
        assert (await self.http.get("/api/v1/sites/news/config")).status_code == 200
        me = await self.http.get("/api/v1/moderation/me", headers=bearer(self.token))
        assert me.status_code == 200


async def table_names(server: RunningServer) -> set[str]:
    async with server.node.store.engine.connect() as conn:
        names: list[str] = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    return set(names)


@pytest.fixture
async def stack(database_url: str, start_server: Any) -> Any:
    await add_site(database_url)
    server: RunningServer = await start_server(
        Settings(database_url=database_url, classifier="profanity-check", recover_interval_s=0)
    )
    token = await server.node.review.add_moderator("news", "ana")
    async with server.client() as http:
        guest = Guest("Seed")
        r = await post(http, "posted before the attack", guest=guest, article=ARTICLE)
        assert r.status_code == 201
        stack = Stack(server, http, token, r.json()["comment"], guest, await table_names(server))
        yield stack
        await stack.intact()


def as_path(text: str) -> str:
    return quote(text, safe="")


async def test_comment_bodies(stack: Stack) -> None:
    published = []
    for payload in PAYLOADS:
        r = await post(stack.http, payload, guest=Guest("Ana"), article=ARTICLE)
        assert r.status_code in (201, 202), (payload, r.text)  # 202: held by the policy
        assert r.json()["comment"]["body"] == payload
        if r.status_code == 201:
            published.append(payload)
    assert published, "nothing was published"
    listed = (await stack.http.get(THREAD, params={"limit": 100})).json()["comments"]
    assert [c["body"] for c in listed[1:]] == published


async def test_author_names(stack: Stack) -> None:
    for i, payload in enumerate(PAYLOADS):
        r = await post(stack.http, f"comment number {i}", guest=Guest(payload), article=ARTICLE)
        assert r.status_code == 201, (payload, r.text)
        assert r.json()["comment"]["author"]["name"] == payload
    listed = (await stack.http.get(THREAD, params={"limit": 100})).json()["comments"]
    assert [c["author"]["name"] for c in listed[1:]] == PAYLOADS


async def test_article_ids_in_the_path(stack: Stack) -> None:
    for payload in PAYLOADS:
        url = f"/api/v1/sites/news/articles/{as_path(payload)}/comments"
        r = await stack.http.post(url, json={"body": "hello there", "author_name": "Ana"})
        assert r.status_code == 201, (payload, r.text)
        assert r.json()["comment"]["article"] == payload
        listed = (await stack.http.get(url)).json()
        assert [c["article"] for c in listed["comments"]] == [payload]
        assert listed["latest_seq"] == 1
    r = await stack.http.get("/api/v1/sites/news/counts", params={"article": PAYLOADS})
    assert r.json()["counts"] == dict.fromkeys(PAYLOADS, 1)
    for payload in PAYLOADS[:3]:
        config = await stack.http.get("/api/v1/sites/news/config", params={"article": payload})
        assert config.status_code == 200


async def test_formatted_fields_are_refused_cleanly(stack: Stack) -> None:
    """Ids, cursors and tokens: a payload is simply not found, or not valid."""
    mod = bearer(stack.token)
    for payload in PAYLOADS:
        p = as_path(payload)
        checks: list[tuple[str, httpx.Response, tuple[int, ...]]] = [
            (
                "parent",
                await stack.http.post(
                    THREAD, json={"body": "a reply", "author_name": "Ana", "parent": payload}
                ),
                (422,),
            ),
            ("site", await stack.http.get(f"/api/v1/sites/{p}/articles/a/comments"), (404,)),
            ("order", await stack.http.get(THREAD, params={"order": payload}), (422,)),
            ("after", await stack.http.get(THREAD, params={"after": payload}), (422,)),
            (
                "delete",
                await stack.http.delete(f"{THREAD}/{p}", headers=stack.guest.headers()),
                (404,),
            ),
            ("report", await stack.http.post(f"{THREAD}/{p}/report", json={}), (404,)),
            (
                "guest token",
                await stack.http.post(
                    THREAD,
                    json={"body": "x", "author_name": "A"},
                    headers={"X-Comments-Guest": payload},
                ),
                (401,),
            ),
            (
                "moderator token",
                await stack.http.get("/api/v1/moderation/me", headers=bearer(payload)),
                (401,),
            ),
            (
                "approve",
                await stack.http.post(f"/api/v1/moderation/comments/{p}/approve", headers=mod),
                (404,),
            ),
            (
                "reject",
                await stack.http.post(f"/api/v1/moderation/comments/{p}/reject", headers=mod),
                (404,),
            ),
            (
                "ban author",
                await stack.http.post(
                    f"/api/v1/moderation/sites/news/authors/{p}/ban", json={}, headers=mod
                ),
                (404,),
            ),
            (
                "audit cursor",
                await stack.http.get(
                    "/api/v1/moderation/sites/news/audit", params={"before": payload}, headers=mod
                ),
                (422,),
            ),
        ]
        for field, r, expected in checks:
            assert r.status_code in expected, (field, payload, r.status_code, r.text)
            assert "error" in r.json()
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(
                f"{stack.server.ws_url}/ws/v1/moderation/sites/news?ticket={p}"
            )
        assert refused.value.response.status_code == 401


async def test_report_and_ban_reasons(stack: Stack) -> None:
    svc = stack.server.node
    mod = bearer(stack.token)
    for payload in PAYLOADS:
        target = await post(stack.http, f"report target {payload}", guest=Guest("T"))
        comment_id = target.json()["comment"]["id"]
        url = f"/api/v1/sites/news/articles/{as_path(ARTICLE)}/comments/{comment_id}/report"
        r = await stack.http.post(url, json={"reason": payload})
        assert r.status_code == 202, (payload, r.text)
        stored = await rows(
            svc.store, "SELECT reason FROM reports WHERE comment_id = :id", id=comment_id
        )
        assert [row[0] for row in stored] == [payload]

        author = stack.seed["author"]["id"]
        r = await stack.http.post(
            f"/api/v1/moderation/sites/news/authors/{as_path(author)}/ban",
            # The author alone: the next payload's guest posts from the same address.
            json={"reason": payload, "scope": "author"},
            headers=mod,
        )
        assert r.status_code == 200, (payload, r.text)
    audit = await stack.http.get(
        "/api/v1/moderation/sites/news/audit", params={"limit": 100}, headers=mod
    )
    entries = audit.json()["entries"]
    reasons = [e["detail"]["new"]["reason"] for e in entries if e["action"] == "ban"]
    assert reasons == PAYLOADS[::-1]  # newest first
    # Unban, so that the fixture's check can still list the seed author's comment.
    r = await stack.http.delete(
        f"/api/v1/moderation/sites/news/authors/{as_path(stack.seed['author']['id'])}/ban",
        headers=mod,
    )
    assert r.status_code == 200


async def run_cli(monkeypatch: pytest.MonkeyPatch, url: str, *argv: str) -> int:
    monkeypatch.setenv("COMMENTS_DATABASE_URL", url)
    return await asyncio.to_thread(cli.main, list(argv))


async def test_site_settings_and_moderator_names_from_the_command_line(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = stack.server.node.settings.database_url
    capsys.readouterr()
    # Words match whole words, so an entry must have a letter or digit; the others are
    # refused cleanly (below).
    words = [p for p in PAYLOADS if any(c.isalnum() for c in p)]
    for key in ("suspect_words", "banned_words"):
        assert await run_cli(monkeypatch, url, "site", "set", "news", key, json.dumps(words)) == 0
        shown = json.loads(capsys.readouterr().out)
        # Words are matched without case: stored lower-cased, otherwise as typed.
        assert shown["settings"][key] == [p.lower() for p in words]
        if len(words) < len(PAYLOADS):
            everything = json.dumps(PAYLOADS)
            assert await run_cli(monkeypatch, url, "site", "set", "news", key, everything) == 2
            assert "has no letter or digit" in capsys.readouterr().err
    assert await run_cli(monkeypatch, url, "site", "set", "news", "banned_words", "[]") == 0
    assert await run_cli(monkeypatch, url, "site", "set", "news", "suspect_words", "[]") == 0
    capsys.readouterr()

    for payload in PAYLOADS:
        assert await run_cli(monkeypatch, url, "moderator", "add", payload, "--site", "news") == 0
        token = capsys.readouterr().out.strip()
        me = await stack.http.get("/api/v1/moderation/me", headers=bearer(token))
        assert me.json() == {"site": "news", "name": payload, "role": "moderator", "scopes": []}

    for argv in (
        ("site", "add", PAYLOADS[4]),
        ("site", "show", PAYLOADS[0]),
        ("site", "set", "news", "thresholds", PAYLOADS[1]),
        ("site", "set", "news", "posts_per_minute_per_ip", PAYLOADS[7]),
        ("site", "set", "news", "origins", PAYLOADS[5]),
        ("moderator", "add", "eve", "--site", PAYLOADS[6]),
    ):
        assert await run_cli(monkeypatch, url, *argv) == 2, argv  # a clean refusal
        assert "comments:" in capsys.readouterr().err


async def test_an_overlong_moderator_name_is_refused_cleanly(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = stack.server.node.settings.database_url
    assert await run_cli(monkeypatch, url, "moderator", "add", "n" * 101, "--site", "news") == 2
    assert "comments:" in capsys.readouterr().err
