"""Erasing an author (docs/api.md, "Personal data"), over real sockets on SQLite and
PostgreSQL: their comments leave an open page live and every public answer (thread pages
both ways, counts, replays from 0, the site's feed, ``comments export``); one with
published replies stays a tombstone; the export names nothing of theirs afterwards; their
guest token is refused; admins only; running it twice is fine. And the CLI, which has no
hub, reaches open pages on a running node through Redis."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import websockets

from comments.store import create_store
from tests.api import SSO_SECRET, sso_token
from tests.conftest import REDIS_URL, RunningServer, add_site, wait_until
from tests.live import Event, events_of, socket_url
from tests.moderation import (
    ARTICLE,
    CLEAN,
    Events,
    Guest,
    bearer,
    mod_settings,
    open_public,
    post,
    posted,
    thread_url,
)

NAME = "Zelda Quillfeather"
BODIES = (f"{CLEAN}, call me on 555-0100", f"{CLEAN}, I live at Hidden Lane")
SECRETS = ("555-0100", "Hidden Lane", NAME)


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def erase_url(author: str, action: str = "erase") -> str:
    return f"/api/v1/moderation/sites/news/authors/{author}/{action}"


def cli(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "comments", *args],
        env={**os.environ, "COMMENTS_DATABASE_URL": database_url, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def public_texts(server: RunningServer, http: httpx.AsyncClient, last: int) -> list[str]:
    """Every public read: thread pages both orders (one a page), counts, the site's
    feed and a socket replay from 0 up to ``last``."""
    texts: list[str] = []
    for order, cursor_name in (("oldest", "after"), ("newest", "before")):
        cursor: int | None = None
        while True:
            params: dict[str, Any] = {"order": order, "limit": 1}
            if cursor is not None:
                params[cursor_name] = cursor
            r = await http.get(thread_url(), params=params)
            assert r.status_code == 200, r.text
            texts.append(r.text)
            cursor = r.json()["next"]
            if cursor is None:
                break
    for url, params in (
        ("/api/v1/sites/news/counts", {"article": ARTICLE}),
        ("/feeds/sites/news.atom", {}),
        (f"/feeds/sites/news/articles/{ARTICLE}.atom", {}),
    ):
        r = await http.get(url, params=params)
        assert r.status_code == 200, r.text
        texts.append(r.text)
    events: list[Event] = []
    async with websockets.connect(socket_url(server.ws_url, "news", ARTICLE, 0)) as ws:
        while not events or events[-1]["seq"] < last:
            frame = await asyncio.wait_for(ws.recv(decode=True), 10)
            assert isinstance(frame, str)
            texts.append(frame)
            events.extend(events_of(frame))
    return texts


async def removed_ids(page: Events, count: int) -> set[str]:
    found: set[str] = set()
    while len(found) < count:
        event = await page.next()
        if event["type"] == "comment.removed":
            found.add(event["id"])
    return found


async def test_erase_through_the_api(
    database_url: str, channel_prefix: str, start_server: Callable[..., Any]
) -> None:
    await add_site(database_url)
    server: RunningServer = await start_server(
        mod_settings(database_url, "memory://", channel_prefix)
    )
    admin = await server.node.review.add_moderator("news", "root", role="admin")
    plain = await server.node.review.add_moderator("news", "pia")
    async with server.client() as http:
        zelda = Guest(NAME)
        first = await posted(http, BODIES[0], 201, guest=zelda)  # seq 1
        second = await posted(http, BODIES[1], 201, guest=zelda)  # seq 2
        r = await http.post(
            thread_url(),
            json={"body": f"{CLEAN}, a reply", "author_name": "Kim", "parent": first["id"]},
        )
        assert r.status_code == 201, r.text  # seq 3
        reply = r.json()["comment"]
        r = await http.post(
            f"{thread_url()}/{reply['id']}/report",
            json={"reason": "spam"},
            headers=zelda.headers(),
        )
        assert r.status_code in (200, 201, 202), r.text
        author = zelda.author_id
        assert author is not None

        # Before: the export lists everything; only admins get it.
        r = await http.get(erase_url(author, "export"), headers=bearer(admin))
        assert r.status_code == 200, r.text
        before = r.json()
        assert [c["body"] for c in before["comments"]] == list(BODIES)
        assert before["author"]["name"] == NAME
        for token in (plain, admin):
            r = await http.get(erase_url(author, "export"), headers=bearer(token))
            assert r.status_code == (403 if token == plain else 200), r.text
        r = await http.post(erase_url(author), json={}, headers=bearer(plain))
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = await http.post(erase_url("guest:nobody/x"), json={}, headers=bearer(admin))
        assert r.status_code == 404, r.text
        r = await http.get(erase_url("guest:nobody", "export"), headers=bearer(admin))
        assert r.status_code == 404, r.text
        r = await http.post(
            erase_url(author),
            content=b"{}",
            headers={**bearer(admin), "content-type": "text/plain"},
        )
        assert r.status_code == 415, r.text

        page = await open_public(server)
        r = await http.post(erase_url(author), json={}, headers=bearer(admin))
        assert r.status_code == 200, r.text
        erased = r.json()["erased"]
        assert erased["withdrawn"] == 2 and erased["comments_overwritten"] == 2, erased
        # The open page hears of both removals live.
        assert await asyncio.wait_for(removed_ids(page, 2), 15) == {first["id"], second["id"]}
        await page.ws.close()

        r = await http.get(thread_url())
        listed = r.json()["comments"]
        tomb = [c for c in listed if c["id"] == first["id"]]
        assert tomb and tomb[0]["tombstone"] is True
        assert tomb[0]["author"] is None and tomb[0]["body"] is None
        assert second["id"] not in [c["id"] for c in listed]
        assert reply["id"] in [c["id"] for c in listed]

        texts = await public_texts(server, http, 5)
        assert [leaks(t) for t in texts if leaks(t)] == []

        # Their token no longer works.
        r = await post(http, CLEAN, guest=zelda)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_guest_token"

        r = await http.get(erase_url(author, "export"), headers=bearer(admin))
        after = r.json()
        assert leaks(json.dumps(after)) == [], after
        assert after["author"]["name"] == "[erased]"
        assert after["author"]["guest_token_hash_present"] is False
        assert after["comment_versions"] == [] and after["reports_made"] == []
        assert [a["action"] for a in after["audit"]] == ["erase"]

        # Twice is fine: nothing more to do, one more audit entry.
        r = await http.post(erase_url(author), headers=bearer(admin), json={})
        assert r.status_code == 200, r.text
        again = r.json()["erased"]
        assert again["withdrawn"] == again["removed"] == again["comments_overwritten"] == 0

    out = await asyncio.to_thread(cli, database_url, "export", "--site", "news")
    assert out.returncode == 0, out.stderr
    assert BODIES[0] not in out.stdout and leaks(out.stdout) == []


async def test_cli_erase_reaches_an_open_page_on_a_running_node(
    postgres_url: str, channel_prefix: str, start_server: Callable[..., Any]
) -> None:
    """The CLI has no hub: its removals reach the node's open pages through Redis."""
    await add_site(postgres_url)
    server: RunningServer = await start_server(
        mod_settings(postgres_url, REDIS_URL, channel_prefix)
    )
    await wait_until(lambda: server.node.broker.healthy)
    async with server.client() as http:
        zelda = Guest(NAME)
        mine = await posted(http, BODIES[0], 201, guest=zelda)
        held = await posted(http, "you are a fucking idiot", 202, guest=zelda)
        page = await open_public(server)
        await wait_until(lambda: server.node.hub.sockets == 1)
        author = zelda.author_id
        assert author is not None
        env = {"COMMENTS_REDIS_URL": REDIS_URL, "COMMENTS_CHANNEL_PREFIX": channel_prefix}
        refused = await asyncio.to_thread(cli, postgres_url, "author", "erase", "news", author)
        assert refused.returncode == 2 and "--yes" in refused.stderr  # no terminal to ask
        done = await asyncio.to_thread(
            cli, postgres_url, "author", "erase", "news", author, "--yes", **env
        )
        assert done.returncode == 0, done.stderr
        assert "withdrawn: 1" in done.stdout and "removed: 1" in done.stdout, done.stdout
        assert await asyncio.wait_for(removed_ids(page, 1), 15) == {mine["id"]}
        await page.ws.close()
        r = await http.get(thread_url())
        assert r.json()["comments"] == []
        assert held["id"]
        again = await asyncio.to_thread(
            cli, postgres_url, "author", "erase", "news", author, "--yes", **env
        )
        assert again.returncode == 0 and "withdrawn: 0" in again.stdout, again.stdout
        nobody = await asyncio.to_thread(
            cli, postgres_url, "author", "erase", "news", "guest:nobody", "--yes"
        )
        assert nobody.returncode == 2 and "no author" in nobody.stderr
        exported = await asyncio.to_thread(cli, postgres_url, "author", "export", "news", author)
        assert exported.returncode == 0 and leaks(exported.stdout) == []
        assert "fucking" not in exported.stdout


def test_cli_asks_on_a_terminal(sqlite_url: str) -> None:
    """On a terminal the CLI asks first: anything but yes erases nothing."""

    async def seed() -> str:
        await add_site(sqlite_url)
        store = create_store(sqlite_url)
        try:
            author, _ = await store.create_guest("news", NAME)
            return author.id
        finally:
            await store.close()

    author = asyncio.run(seed())

    def answered(answer: str) -> subprocess.CompletedProcess[str]:
        primary, secondary = os.openpty()
        try:
            os.write(primary, answer.encode() + b"\n")
            return subprocess.run(
                [sys.executable, "-m", "comments", "author", "erase", "news", author],
                env={**os.environ, "COMMENTS_DATABASE_URL": sqlite_url},
                stdin=secondary,
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            os.close(primary)
            os.close(secondary)

    no = answered("n")
    assert no.returncode == 1 and "nothing erased" in no.stderr, no
    assert NAME in cli(sqlite_url, "author", "export", "news", author).stdout
    yes = answered("y")
    assert yes.returncode == 0 and "This cannot be undone" in yes.stdout, yes
    assert NAME not in cli(sqlite_url, "author", "export", "news", author).stdout


async def test_api_erase_of_an_sso_reader_reaches_another_node(
    postgres_url: str, channel_prefix: str, start_server: Callable[..., Any]
) -> None:
    """An SSO id holds ``:`` and, here, ``/``: the erase route still names it; node B's
    open page hears of the removal made on node A, through Redis."""
    await add_site(postgres_url, sso_secrets=[SSO_SECRET])
    settings = mod_settings(postgres_url, REDIS_URL, channel_prefix)
    a: RunningServer = await start_server(settings)
    b: RunningServer = await start_server(settings)
    for node in (a, b):
        await wait_until(lambda node=node: node.node.broker.healthy)
    admin = await a.node.review.add_moderator("news", "root", role="admin")
    page = await open_public(b)
    await wait_until(lambda: b.node.hub.sockets == 1)
    async with a.client() as http:
        signed_in = {"Authorization": f"Bearer {sso_token('team/a:1', NAME)}"}
        r = await http.post(thread_url(), json={"body": BODIES[0]}, headers=signed_in)
        assert r.status_code == 201, r.text
        comment = r.json()["comment"]
        author = comment["author"]["id"]
        assert "/" in author and ":" in author, author
        r = await http.get(erase_url(author, "export"), headers=bearer(admin))
        assert r.status_code == 200 and r.json()["author"]["id"] == author, r.text
        r = await http.post(erase_url(author), json={}, headers=bearer(admin))
        assert r.status_code == 200 and r.json()["erased"]["withdrawn"] == 1, r.text
        assert await asyncio.wait_for(removed_ids(page, 1), 15) == {comment["id"]}
        await page.ws.close()
        r = await http.get(f"/api/v1/moderation/sites/news/authors/{author}", headers=bearer(admin))
        assert r.status_code == 200 and r.json()["author"]["name"] == "[erased]", r.text
    async with b.client() as http:
        assert leaks((await http.get(thread_url())).text) == []
