"""Secrets the server issues (moderator tokens, socket tickets, guest tokens) are kept only
as SHA-256 digests: a copy of the database signs no one in. Lookups go by digest, so no
comparison of a sent token with a stored one exists to leak timing (the argument is at
``comments.store.store.hash_token``)."""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa

from comments.settings import Settings
from comments.store import Store
from tests.conftest import RunningServer, add_site
from tests.moderation import Guest, bearer, posted


async def every_stored_text(store: Store) -> list[str]:
    """Every value of every table, as text."""
    metadata = sa.MetaData()
    values: list[str] = []
    async with store.engine.connect() as conn:
        await conn.run_sync(metadata.reflect)
        for table in metadata.sorted_tables:
            for row in await conn.execute(sa.select(table)):
                values.extend(str(v) for v in row if v is not None)
    return values


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def test_tokens_and_tickets_are_stored_only_as_digests(
    database_url: str, start_server: Any
) -> None:
    await add_site(database_url)
    server: RunningServer = await start_server(
        Settings(database_url=database_url, classifier="profanity-check", recover_interval_s=0)
    )
    svc = server.node
    token = await svc.review.add_moderator("news", "ana")
    async with server.client() as http:
        r = await http.post("/api/v1/moderation/tickets", headers=bearer(token))
        assert r.status_code == 200
        ticket = r.json()["ticket"]
        guest = Guest("Bo")
        await posted(http, "hello", 201, guest=guest)
        assert guest.token is not None

        stored = await every_stored_text(svc.store)
        for secret in (token, ticket, guest.token):
            assert len(secret) >= 32
            assert not any(secret in value for value in stored), "a secret is stored as sent"
            assert sha256(secret) in stored  # what is kept instead

        # The token works; near misses do not (prefix, one character off, the digest).
        assert (await http.get("/api/v1/moderation/me", headers=bearer(token))).status_code == 200
        near = [
            token[:-1],
            token + "x",
            token[:-1] + ("A" if token[-1] != "A" else "B"),
            sha256(token),
            token.upper(),
        ]
        for wrong in near:
            r = await http.get("/api/v1/moderation/me", headers=bearer(wrong))
            assert r.status_code == 401, wrong
