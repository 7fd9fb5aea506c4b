"""The SQLite driver's one thread hop per statement (comments/store/sqlite_driver.py):
the same results and errors as the stock adapter, for fewer hops."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from comments.store import Store, create_store

TABLE = sa.Table(
    "driver_probe",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String, unique=True),
)


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The name of every function aiosqlite runs on a connection's thread."""
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield seen


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[Store]:
    store = create_store(sqlite_url)
    async with store.engine.begin() as conn:
        await conn.run_sync(TABLE.metadata.create_all)
    yield store
    await store.close()


async def test_a_statement_is_one_hop_and_a_read_sends_no_rollback(
    sqlite_store: Store, hops: list[str]
) -> None:
    async with sqlite_store.engine.connect() as conn:
        await conn.execute(sa.select(TABLE.c.id))  # a connection for the pool first
    hops.clear()
    async with sqlite_store.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.literal(7)))).scalar_one() == 7
    # One hop for the statement; nothing to roll back when the connection goes back.
    assert hops == ["_run"]


async def test_writes_rows_counts_and_errors_are_those_of_sqlite3(
    sqlite_store: Store, hops: list[str]
) -> None:
    async with sqlite_store.engine.begin() as conn:
        inserted = await conn.execute(sa.insert(TABLE).values(name="a"))
        assert inserted.inserted_primary_key == (1,)  # lastrowid
        await conn.execute(sa.insert(TABLE), [{"name": "b"}, {"name": "c"}])  # executemany
        updated = await conn.execute(
            sa.update(TABLE).where(TABLE.c.name != "a").values(name=TABLE.c.name + "!")
        )
        assert updated.rowcount == 2
    assert hops.count("commit") == 1
    async with sqlite_store.engine.connect() as conn:
        rows = (await conn.execute(sa.select(TABLE.c.name).order_by(TABLE.c.id))).all()
        assert [r.name for r in rows] == ["a", "b!", "c!"]
        many = await conn.execute(sa.select(TABLE.c.name).order_by(TABLE.c.id))
        assert [r.name for r in many.fetchmany(2)] == ["a", "b!"]
        assert many.fetchone() is not None and many.fetchone() is None
    with pytest.raises(IntegrityError):
        async with sqlite_store.engine.begin() as conn:
            await conn.execute(sa.insert(TABLE).values(name="z"))
            await conn.execute(sa.insert(TABLE).values(name="a"))
    # The failed transaction was rolled back whole.
    async with sqlite_store.engine.connect() as conn:
        names = (await conn.execute(sa.select(TABLE.c.name))).scalars().all()
        assert sorted(names) == ["a", "b!", "c!"]
