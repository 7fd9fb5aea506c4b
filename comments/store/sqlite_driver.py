"""SQLite through aiosqlite with one thread hop per statement.

aiosqlite runs every call on its connection's own thread and hands the result back to
the event loop: a hop that costs the process tens of microseconds of CPU (a queue put,
waking the thread, the GIL changing hands twice, waking the loop). SQLAlchemy's adapter
spends four hops on a statement (make a cursor, execute, fetch, close) and one more on
the rollback of every connection returned to the pool, which with SQLite's implicit
transactions has nothing to roll back after reads: 45 hops for a post, most of what it
cost (docs/benchmarks.md, Ingest).

:func:`dbapi` is the stock adapter with two changes, results otherwise identical:

- a statement is one hop: cursor, execute, fetch all rows, close, on the connection's
  thread (results were fetched whole before too: the adapter buffers them);
- ``commit`` and ``rollback`` with no transaction open are not sent, as
  :mod:`sqlite3` itself would do nothing for them (``in_transaction`` reads SQLite's
  autocommit flag, which any thread may read).

Server-side cursors (``stream``) keep the stock behaviour.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, list[Any] | None, int, int | None]


def _run(conn: aiosqlite.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """On the connection's thread: the whole statement, its rows fetched."""
    cursor = conn._conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor:
    """The DB-API cursor SQLAlchemy drives, over one aiosqlite call per statement."""

    server_side = False
    __slots__ = ("_adapt", "_rows", "arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, adapt_connection: OneHopConnection) -> None:
        self._adapt = adapt_connection
        self._rows: collections.deque[Any] = collections.deque()
        self.arraysize = 1
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def _call(self, operation: str, parameters: Any, many: bool) -> None:
        adapt = self._adapt
        async with adapt._execute_mutex:
            outcome: _Outcome = await adapt._connection._execute(
                _run, adapt._connection, operation, parameters, many
            )
        self.description, rows, self.rowcount, self.lastrowid = outcome
        self._rows = collections.deque(rows or ())

    def execute(self, operation: str, parameters: Any = None) -> None:
        try:
            await_(self._call(operation, parameters, False))
        except Exception as error:
            self._adapt._handle_exception(error)

    def executemany(self, operation: str, seq_of_parameters: Sequence[Any]) -> None:
        try:
            await_(self._call(operation, seq_of_parameters, True))
        except Exception as error:
            self._adapt._handle_exception(error)

    async def _async_soft_close(self) -> None:
        """Nothing to close: the statement's cursor closed on its thread."""

    def close(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass

    def __iter__(self) -> Any:
        while self._rows:
            yield self._rows.popleft()

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor  # type: ignore[assignment]

    def _in_transaction(self) -> bool:
        conn: sqlite3.Connection | None = self._connection._connection
        # No connection: let the stock code answer as it does.
        return conn is None or conn.in_transaction

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)


def dbapi() -> OneHopDbapi:
    """The ``module`` for ``create_async_engine`` on a ``sqlite+aiosqlite`` URL."""
    return OneHopDbapi(aiosqlite, sqlite3)
