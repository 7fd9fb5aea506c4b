"""Migration 0007 (roles): moderators made before roles existed keep every power they
had (they become admins); new ones are plain moderators. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from comments.store import Store, create_store
from comments.store.migrate import alembic_config
from tests.conftest import _pg_admin, pg_url


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"comments_roles_{secrets.token_hex(6)}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    yield pg_url(name)
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def fresh(fresh_url: str) -> AsyncIterator[Store]:
    s = create_store(fresh_url)
    yield s
    await s.close()


def upgrade_to(revision: str) -> Callable[[Connection], None]:
    return lambda conn: command.upgrade(alembic_config(conn), revision)


def before_roles() -> str:
    """The revision just before the roles migration (whatever number it ends up with)."""
    script = ScriptDirectory.from_config(alembic_config())
    (roles,) = [r for r in script.walk_revisions() if r.module.__file__.endswith("_roles.py")]
    down = roles.down_revision
    assert isinstance(down, str)
    return down


async def test_existing_moderators_become_admins(fresh: Store) -> None:
    async with fresh.engine.begin() as conn:
        await conn.run_sync(upgrade_to(before_roles()))
    await fresh.create_site("news", {})
    async with fresh.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO moderators (site, name, token_hash, created_at)"
                " VALUES ('news', 'old', :h, CURRENT_TIMESTAMP)"
            ),
            {"h": "0" * 64},
        )
        await conn.run_sync(upgrade_to("head"))
    from comments.store.review import ReviewStore

    review = ReviewStore(fresh)
    await review.add_moderator("news", "new")
    async with fresh.engine.connect() as conn:
        rows = (
            await conn.execute(sa.text("SELECT name, role, scopes FROM moderators ORDER BY id"))
        ).all()
    assert [tuple(r) for r in rows] == [("old", "admin", "[]"), ("new", "moderator", "[]")]
