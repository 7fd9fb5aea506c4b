"""A fresh database for one benchmark run, with a site whose limits stay out of the way."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from comments.settings import normalize_database_url
from comments.store import create_store

#: The site every benchmark posts to and reads from.
SITE = "bench"
# Guests post, nothing is rate-limited: the benchmark posts fast from one address.
OPEN_SITE: dict[str, Any] = {
    "guests": True,
    "posts_per_minute_per_author": 0,
    "posts_per_minute_per_ip": 0,
    "likes_per_minute_per_reader": 0,
    "likes_per_minute_per_ip": 0,
}


async def add_site(url: str, slug: str, settings: dict[str, Any]) -> None:
    """Another site in a benchmark database: :data:`OPEN_SITE`, then ``settings``."""
    store = create_store(url)
    try:
        await store.create_site(slug, {**OPEN_SITE, **settings})
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def fresh_database(spec: str, folder: Path) -> AsyncIterator[str]:
    """Yield the URL of an empty, migrated database holding the site :data:`SITE`.

    Args:
        spec: ``sqlite`` for a new file in ``folder``, or a ``postgresql://`` URL: a new
            database is created on that server (the URL's user must be allowed to) and
            dropped afterwards.
        folder: where a SQLite file goes.
    """
    if spec == "sqlite":
        url = normalize_database_url(f"sqlite:///{folder / 'bench.db'}")
        await _create_site(url)
        yield url
        return
    from sqlalchemy.engine import make_url

    server = make_url(normalize_database_url(spec))
    if server.get_backend_name() != "postgresql":
        raise ValueError(f"a benchmark database is 'sqlite' or a postgresql:// URL, not {spec!r}")
    name = f"comments_bench_{secrets.token_hex(4)}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        await _create_site(url)
        yield url
    finally:
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _create_site(url: str) -> None:
    store = create_store(url)
    try:
        await store.migrate()
        await store.create_site(SITE, dict(OPEN_SITE))
    finally:
        await store.close()


async def _admin(server: Any, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(
        host=server.host or "127.0.0.1",
        port=server.port or 5432,
        user=server.username,
        password=server.password,
        database="postgres",
        timeout=10,
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
