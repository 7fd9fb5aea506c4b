"""Helpers for the moderation tests: servers with the bundled classifier, guests who post
and report, moderators with tokens and tickets, and readers of socket events.

The classifier is the real bundled profanity-check model: ``TOXIC`` scores about 1.0 on
its one label (threshold 0.50), ``CLEAN`` about 0.001.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
import websockets
from websockets.asyncio.client import ClientConnection

from comments.scoring.classifier import Classifier, MicroBatcher
from comments.scoring.classifier.profanity import ProfanityCheckClassifier
from comments.scoring.scorer import Scorer
from comments.settings import Settings
from comments.store import Store
from tests.conftest import RunningServer

TOXIC = "you are a fucking idiot"
CLEAN = "thanks for the thoughtful article"
TOXIC_REASON = "profanity 1.00 \u2265 0.50"
UNAVAILABLE = "classifier unavailable"
ARTICLE = "2025/07/lavrov-kim"

Event = dict[str, Any]


def mod_settings(database_url: str, broker_url: str, prefix: str, **changes: Any) -> Settings:
    """A node with the bundled model and no background recovery unless asked for."""
    base = Settings(
        database_url=database_url,
        broker_url=broker_url,
        channel_prefix=prefix,
        resync_interval_s=1.0,
        classifier="profanity-check",
        recover_interval_s=0,
    )
    return base.with_(**changes)


# -- readers ------------------------------------------------------------------------------


def thread_url(article: str = ARTICLE, site: str = "news") -> str:
    return f"/api/v1/sites/{site}/articles/{article}/comments"


@dataclass
class Guest:
    """A reader without an account: the server issues its identity on the first post."""

    name: str
    token: str | None = None
    author_id: str | None = None

    def headers(self) -> dict[str, str]:
        return {"X-Comments-Guest": self.token} if self.token else {}


async def post(
    http: httpx.AsyncClient,
    body: str,
    *,
    guest: Guest | None = None,
    article: str = ARTICLE,
    site: str = "news",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Post as ``guest`` (a new guest named Ana when None); records the guest's identity.
    ``headers`` are added (``X-Forwarded-For`` behind a trusted proxy, a bearer token)."""
    guest = guest or Guest("Ana")
    r = await http.post(
        thread_url(article, site),
        json={"body": body, "author_name": guest.name},
        headers={**guest.headers(), **(headers or {})},
    )
    if r.status_code in (201, 202):
        data = r.json()
        guest.token = data.get("guest_token", guest.token)
        guest.author_id = data["comment"]["author"]["id"]
    return r


async def posted(http: httpx.AsyncClient, body: str, status: int, **kw: Any) -> dict[str, Any]:
    """Post and return the comment, asserting the status code (201 or 202)."""
    r = await post(http, body, **kw)
    assert r.status_code == status, r.text
    comment: dict[str, Any] = r.json()["comment"]
    assert comment["status"] == ("published" if status == 201 else "held"), comment
    return comment


async def listed_ids(http: httpx.AsyncClient, article: str = ARTICLE) -> list[str]:
    r = await http.get(thread_url(article))
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["comments"]]


# -- moderators ---------------------------------------------------------------------------


def from_address(address: str) -> dict[str, str]:
    """A request from ``address``, through the trusted proxy (``trusted_proxies`` holds
    127.0.0.1, the test client's own address)."""
    return {"X-Forwarded-For": address}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Moderator:
    http: httpx.AsyncClient
    token: str
    site: str = "news"

    async def queue(self, site: str | None = None) -> list[dict[str, Any]]:
        r = await self.http.get(
            f"/api/v1/moderation/sites/{site or self.site}/queue", headers=bearer(self.token)
        )
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    async def act(self, action: str, comment_id: str) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/moderation/comments/{comment_id}/{action}", headers=bearer(self.token)
        )

    async def decided(self, action: str, comment_id: str) -> dict[str, Any]:
        r = await self.act(action, comment_id)
        assert r.status_code == 200, r.text
        comment: dict[str, Any] = r.json()["comment"]
        return comment

    async def ticket(self) -> str:
        r = await self.http.post("/api/v1/moderation/tickets", headers=bearer(self.token))
        assert r.status_code == 200, r.text
        ticket: str = r.json()["ticket"]
        return ticket


async def new_moderator(
    server: RunningServer, http: httpx.AsyncClient, name: str = "ana", site: str = "news"
) -> Moderator:
    token = await server.node.review.add_moderator(site, name)
    return Moderator(http, token, site)


def moderation_socket_url(server: RunningServer, ticket: str, site: str = "news") -> str:
    return f"{server.ws_url}/ws/v1/moderation/sites/{site}?ticket={ticket}"


async def open_moderation(
    server: RunningServer, moderator: Moderator, site: str = "news"
) -> Events:
    ticket = await moderator.ticket()
    return Events(await websockets.connect(moderation_socket_url(server, ticket, site)))


async def open_public(server: RunningServer, article: str = ARTICLE, site: str = "news") -> Events:
    return Events(
        await websockets.connect(f"{server.ws_url}/ws/v1/sites/{site}/articles/{article}")
    )


# -- sockets ------------------------------------------------------------------------------


class Events:
    """The events of a socket, one at a time, whether frames carry one or a batch."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.buffer: deque[Event] = deque()

    async def next(self, timeout: float = 10.0) -> Event:
        while not self.buffer:
            frame = await asyncio.wait_for(self.ws.recv(), timeout)
            data = json.loads(frame)
            self.buffer.extend(data["events"] if data.get("type") == "batch" else [data])
        return self.buffer.popleft()

    async def take(self, count: int, timeout: float = 10.0) -> list[Event]:
        return [await self.next(timeout) for _ in range(count)]

    async def close(self) -> None:
        await self.ws.close()


# -- classifiers --------------------------------------------------------------------------


class FailingClassifier(Classifier):
    """Loads, then raises on every batch (a model that crashes at inference)."""

    name = "failing"
    labels = ("profanity",)

    def load(self) -> None:
        pass

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        raise RuntimeError("the model crashed")


class HangingClassifier(Classifier):
    """Blocks in ``score_batch`` until ``release`` is set (set at the test's teardown)."""

    name = "hanging"
    labels = ("profanity",)

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.entered = threading.Event()

    def load(self) -> None:
        pass

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.entered.set()
        self.release.wait(120)  # bounded: a broken teardown must not hang the process
        return [{"profanity": 0.0} for _ in texts]


class CountingProfanity(ProfanityCheckClassifier):
    """The real bundled model, counting its ``score_batch`` calls and texts."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []  # one worker thread appends: no lock needed

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.batches.append(len(texts))
        return super().score_batch(texts)


async def use_classifier(server: RunningServer, classifier: Classifier) -> Scorer:
    """Put ``classifier`` behind the node's scorer (loaded, with the node's batching
    settings) and close the one it replaces."""
    svc = server.node
    s: Settings = svc.settings
    scorer = Scorer(
        MicroBatcher(
            classifier,
            max_batch=s.classifier_batch_size,
            max_wait_ms=s.classifier_batch_wait_ms,
            timeout_s=s.classifier_timeout_s,
        )
    )
    await scorer.load()
    await swap_scorer(server, scorer)
    return scorer


async def swap_scorer(server: RunningServer, scorer: Scorer) -> None:
    """Make ``scorer`` the one the running node scores with; close the old one."""
    svc = server.node
    old = svc.scorer
    svc.decider.scorer = scorer
    await old.close()


# -- the database -------------------------------------------------------------------------


async def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``comments …`` as an operator runs it, against this test's database. In a
    thread: the test's server shares this event loop, and a loop blocked mid-write
    would hold SQLite's write lock for as long as the CLI waits on it."""
    env = {**os.environ, "COMMENTS_DATABASE_URL": database_url}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "comments", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def rows(store: Store, sql: str, **params: Any) -> list[Any]:
    async with store.engine.connect() as conn:
        return list((await conn.execute(sa.text(sql), params)).all())


async def execute(store: Store, sql: str, **params: Any) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(sa.text(sql), params)
