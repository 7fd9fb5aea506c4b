"""Migrations: on a fresh database they build exactly the schema ``tables.py`` declares
(Alembic's autogenerate finds nothing to add), and running them again changes nothing.
Both on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from comments.store import Store, create_store
from comments.store.migrate import alembic_config
from comments.store.tables import metadata
from tests.conftest import _pg_admin, pg_url


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: not cloned from the suite's migrated template."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"comments_fresh_{secrets.token_hex(6)}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    yield pg_url(name)
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def fresh_store(fresh_database_url: str) -> AsyncIterator[Store]:
    s = create_store(fresh_database_url)
    yield s
    await s.close()


def schema_differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            # Full-text search lives in each database's own structures, outside tables.py
            # (migration 0007): SQLite's FTS5 table and PostgreSQL's expression index.
            "include_name": lambda name, kind, parent: (
                not (
                    (kind == "table" and (name or "").startswith("comments_fts"))
                    or (kind == "index" and name == "ix_comments_body_fts")
                )
            ),
        },
    )
    diffs: list[Any] = compare_metadata(context, metadata)
    return diffs


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def describe(conn: Connection) -> dict[str, Any]:
    """Tables, columns, indexes and constraints as the database reports them."""
    inspector = sa.inspect(conn)
    schema: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        schema[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table)
            ],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"] or "", tuple(str(c) for c in i["column_names"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
        }
    return schema


async def test_fresh_database_migrates_to_the_declared_schema(fresh_store: Store) -> None:
    async with fresh_store.engine.connect() as conn:
        assert await conn.run_sync(current_revision) is None
    await fresh_store.migrate()

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    async with fresh_store.engine.connect() as conn:
        assert await conn.run_sync(current_revision) == head
        diffs = await conn.run_sync(schema_differences)
        tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    assert diffs == []
    own = {t for t in tables if not t.startswith("comments_fts")}  # SQLite's FTS5 tables
    assert set(metadata.tables) | {"alembic_version"} == own


async def test_migrating_twice_changes_nothing(fresh_store: Store) -> None:
    await fresh_store.migrate()
    assert await fresh_store.create_site("news", {"guests": True})
    author, _ = await fresh_store.create_guest("news", "Ana")
    await fresh_store.create_comment(
        site="news", article="a", author=author, body="kept", parent=None
    )
    async with fresh_store.engine.connect() as conn:
        before = await conn.run_sync(describe)
        revision = await conn.run_sync(current_revision)

    await fresh_store.migrate()

    async with fresh_store.engine.connect() as conn:
        assert await conn.run_sync(describe) == before
        assert await conn.run_sync(current_revision) == revision
        versions = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).all()
    assert [tuple(v) for v in versions] == [(revision,)]
    assert await fresh_store.get_site("news") == {"guests": True}
    assert await fresh_store.list_sites() == ["news"]


async def test_a_second_store_migrating_a_migrated_database(fresh_database_url: str) -> None:
    """Every node runs ``migrate`` at start: the second finds nothing to do."""
    first, second = create_store(fresh_database_url), create_store(fresh_database_url)
    try:
        await first.migrate()
        await first.create_site("news", {})
        await second.migrate()
        assert await second.list_sites() == ["news"]
        async with second.engine.connect() as conn:
            assert await conn.run_sync(schema_differences) == []
    finally:
        await first.close()
        await second.close()


async def test_nodes_starting_together_on_an_empty_database_all_migrate(
    fresh_database_url: str,
) -> None:
    """Several nodes run ``migrate`` at the same moment: none fails, one schema results."""
    stores = [create_store(fresh_database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(s.migrate() for s in stores))
        await stores[0].create_site("news", {})
        assert await stores[2].list_sites() == ["news"]
        async with stores[1].engine.connect() as conn:
            assert await conn.run_sync(schema_differences) == []
    finally:
        for s in stores:
            await s.close()


async def test_upgrading_redacts_events_of_comments_removed_before(fresh_store: Store) -> None:
    """Removals under earlier releases left the comment's text in its published event:
    migration 0005 redacts it, and leaves the events of published comments alone."""
    from alembic import command

    from comments.models import Status, redacted_event
    from comments.store.tables import comments, events

    def upgrade_to(revision: str) -> Callable[[Connection], None]:
        return lambda conn: command.upgrade(alembic_config(conn), revision)

    async with fresh_store.engine.begin() as conn:
        await conn.run_sync(upgrade_to("0004"))
    await fresh_store.create_site("news", {})
    author, _ = await fresh_store.create_guest("news", "Zelda")
    posted = []
    for body in ("kept", "my phone number is 555-0100", "rejected, then approved"):
        comment, _ = await fresh_store.create_comment(
            site="news",
            article="a",
            author=author,
            body=body,
            parent=None,
            status=Status.PUBLISHED,
        )
        posted.append(comment)
    kept, gone, back = posted
    # What an earlier release left: removed (gone), removed then published anew (back),
    # with the old events' text in place.
    async with fresh_store.engine.begin() as conn:
        await conn.execute(
            sa.update(comments).where(comments.c.id == gone.id).values(status="deleted", seq=None)
        )
        await conn.execute(sa.update(comments).where(comments.c.id == back.id).values(seq=5))
        art = (await conn.execute(sa.select(events.c.article_id).limit(1))).scalar_one()
        for seq, kind, cid in ((4, "comment.removed", gone.id), (5, "comment.published", back.id)):
            await conn.execute(
                sa.insert(events).values(
                    article_id=art,
                    seq=seq,
                    type=kind,
                    comment_id=cid,
                    payload=f"event {seq}",
                    created_at=kept.created_at,
                )
            )

    async with fresh_store.engine.begin() as conn:
        await conn.run_sync(upgrade_to("head"))
        rows = (
            await conn.execute(
                sa.select(events.c.seq, events.c.type, events.c.payload).order_by(events.c.seq)
            )
        ).all()
    assert [(r.seq, r.type) for r in rows] == [
        (1, "comment.published"),
        (2, "comment.redacted"),
        (3, "comment.redacted"),
        (4, "comment.removed"),
        (5, "comment.published"),
    ]
    assert "kept" in rows[0].payload
    assert rows[1].payload == redacted_event(2, gone.id)
    assert rows[2].payload == redacted_event(3, back.id)
    assert rows[4].payload == "event 5"
