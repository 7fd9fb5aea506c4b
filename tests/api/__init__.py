"""Helpers shared by the public HTTP API tests (fixtures stay in each test file)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
import uvicorn

from comments.server.config import build_config
from comments.settings import Settings
from comments.store import Store
from comments.store.tables import authors, comments
from comments.web.app import create_app
from tests.conftest import RunningServer, _pg_admin, free_port, pg_url, wait_until

# 32+ bytes: PyJWT warns (an error here) about shorter HMAC keys.
SSO_SECRET = "news-sso-secret-0123456789abcdef-current"
OLD_SSO_SECRET = "news-sso-secret-0123456789abcdef-previous"


def api_settings(database_url: str, channel_prefix: str) -> Settings:
    """A node on ``database_url`` with the in-process broker, for tests where the broker
    plays no part, and the bundled offline classifier, so results do not depend on what
    weights this host happens to have on disk."""
    return Settings(
        database_url=database_url,
        broker_url="memory://",
        channel_prefix=channel_prefix,
        classifier="profanity-check",
        resync_interval_s=1.0,
    )


@contextlib.asynccontextmanager
async def module_database(
    kind: str, tmp_path_factory: pytest.TempPathFactory, template: str
) -> AsyncIterator[str]:
    """A database URL for a module-scoped fixture parametrized "sqlite"/"postgres" (for
    long tables of cheap requests: one server per database instead of one per case);
    ``template`` is the session's migrated PostgreSQL template."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'comments.db'}"
        return
    name = f"comments_m_{secrets.token_hex(6)}"
    await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield pg_url(name)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def running_server(settings: Settings) -> AsyncIterator[RunningServer]:
    """The conftest ``start_server`` as a context manager, for module-scoped fixtures."""
    port = free_port()
    config = build_config(
        create_app(settings), settings, port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), timeout=30)
    if task.done():
        task.result()
        raise AssertionError("server stopped during start-up")
    running = RunningServer(server, task, port)
    try:
        yield running
    finally:
        await running.stop()


def comments_url(article: str, site: str = "news") -> str:
    return f"/api/v1/sites/{site}/articles/{article}/comments"


def sso_token(
    sub: str = "u1",
    name: str = "Sam",
    *,
    secret: str = SSO_SECRET,
    expires_in: int = 600,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    payload: dict[str, Any] = {
        "sub": sub,
        "name": name,
        "exp": int(time.time()) + expires_in,
        **claims,
    }
    for key in drop:
        payload.pop(key)
    return jwt.encode(payload, secret, algorithm="HS256")


def unsigned_token(sub: str = "u1", name: str = "Sam") -> str:
    """A token with ``alg: none`` and no signature, as an attacker would forge it."""

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    claims = {"sub": sub, "name": name, "exp": int(time.time()) + 600}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def stored_rows(store: Store) -> tuple[int, int]:
    """How many comment rows and author rows the database holds (any status)."""
    async with store.engine.connect() as conn:
        n_comments = (await conn.execute(sa.select(sa.func.count()).select_from(comments))).scalar()
        n_authors = (await conn.execute(sa.select(sa.func.count()).select_from(authors))).scalar()
    return int(n_comments or 0), int(n_authors or 0)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is ``status`` with the JSON error object of docs/api.md and ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    payload: dict[str, Any] = response.json()
    assert set(payload) >= {"error"}, payload
    error = payload["error"]
    assert set(error) == {"code", "message"}, payload
    assert error["code"] == code, payload
    assert isinstance(error["message"], str) and error["message"], payload
    return payload
