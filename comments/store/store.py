"""Queries and transactions over the schema in ``tables.py``.

Every write that changes what readers see goes through one transaction that also bumps the
article's ``last_seq`` and appends the event, so the store is the source of truth for the
live stream: brokers only carry hints that something new is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from comments.models import (
    GUEST_PREFIX,
    TEXT_EVENTS,
    Author,
    Comment,
    EventType,
    Status,
    comment_json,
    published_event,
    redacted_event,
    removed_event,
    utcnow,
)
from comments.store.mail import enqueue_reply
from comments.store.outbox import Outbox
from comments.store.tables import articles, authors, comments, events, server_secrets, sites


class StoreUnavailable(Exception):
    """The database cannot be reached or refused the operation for a transient reason."""


#: PostgreSQL's SQLSTATEs for a transaction that lost to another (deadlock,
#: serialization, lock not available): worth trying again, not an outage.
CONFLICT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def is_conflict(exc: BaseException) -> bool:
    """Was this StoreUnavailable a transaction losing to another, not the database away?"""
    cause = exc.__cause__
    orig = getattr(cause, "orig", None)
    return getattr(orig, "sqlstate", None) in CONFLICT_SQLSTATES


class NotFound(Exception):
    pass


@dataclass(frozen=True)
class ArticleRow:
    id: int
    site: str
    key: str
    closed: bool
    premoderated: bool
    last_seq: int


@dataclass(frozen=True)
class EventRow:
    seq: int
    payload: str
    # A publication's comment as encoded in ``payload`` (for answers that carry it); not
    # part of the event's identity.
    comment_json: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Page:
    comments: list[Comment]
    next: int | None
    latest_seq: int


@dataclass(frozen=True)
class Change:
    """A state change that produced a public event (or none, when ``event`` is None)."""

    comment: Comment
    event: EventRow | None
    previous: Status


def hash_token(token: str) -> str:
    """What the database keeps of a moderator token, a guest token or a ticket.

    Tokens are looked up by this digest (``WHERE token_hash = …``), never compared as
    sent, so no comparison needs ``hmac.compare_digest``: the time an index lookup or a
    string comparison takes can only reveal how much of a *digest* matched, and an
    attacker cannot choose inputs whose SHA-256 shares a growing prefix with a stored one
    (that is a preimage search). Tokens carry 192 bits or more of randomness, so an
    unsalted hash is enough; a stolen table yields no usable token.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    return secrets.token_urlsafe(12)


# The statements every post runs, built once: a statement built per call costs its
# construction and its cache key (SQLAlchemy memoizes the key on the object) before the
# compiled form is found in the cache, ~0.1 ms each. Values go in as parameters.
_GUEST_BY_TOKEN = sa.select(authors.c.id, authors.c.name).where(
    authors.c.guest_token_hash == sa.bindparam("hash"), authors.c.site == sa.bindparam("site")
)
_ARTICLE = sa.select(articles).where(
    articles.c.site == sa.bindparam("site"), articles.c.key == sa.bindparam("key")
)
_DUPLICATE = (
    sa.select(comments.c.id)
    .where(
        comments.c.author_id == sa.bindparam("author_id"),
        comments.c.created_at >= sa.bindparam("since", type_=comments.c.created_at.type),
        comments.c.body == sa.bindparam("body"),
        comments.c.status.in_([Status.PENDING, Status.PUBLISHED, Status.HELD, Status.SHADOWED]),
    )
    .limit(1)
)
_NEXT_SEQ = (
    sa.update(articles)
    .where(articles.c.id == sa.bindparam("article_id"))
    .values(last_seq=articles.c.last_seq + 1)
    .returning(articles.c.last_seq)
)
# Executed with a dict: the columns it names are inserted, as .values(**dict) did.
_INSERT_COMMENT = sa.insert(comments)
_INSERT_EVENT = sa.insert(events)


def _comment_columns() -> list[Any]:
    return [
        comments.c.id,
        comments.c.site,
        articles.c.key,
        comments.c.parent_id,
        comments.c.author_id,
        comments.c.author_name,
        comments.c.body,
        comments.c.status,
        comments.c.seq,
        comments.c.created_at,
        comments.c.edited_at,
        comments.c.reactions,
    ]


def visible_to(author_id: str | None) -> Any:
    """Published comments, and the viewer's own shadowed ones (which look published to
    them): the condition for a parent a reader may answer."""
    published = comments.c.status == Status.PUBLISHED
    if author_id is None:
        return published
    return sa.or_(
        published,
        sa.and_(comments.c.status == Status.SHADOWED, comments.c.author_id == author_id),
    )


def _row_to_comment(row: Any) -> Comment:
    return Comment(
        id=row.id,
        site=row.site,
        article=row.key,
        parent=row.parent_id,
        author=Author(id=row.author_id, name=row.author_name),
        body=row.body,
        status=Status(row.status),
        seq=row.seq,
        created_at=row.created_at,
        edited_at=row.edited_at,
        reactions=getattr(row, "reactions", 0),
    )


@contextlib.asynccontextmanager
async def _unavailable() -> AsyncIterator[None]:
    """The database's transient failures inside, as StoreUnavailable (a 503)."""
    try:
        yield
    except (OperationalError, DBAPIError, OSError, PoolTimeout) as exc:
        if isinstance(exc, IntegrityError):
            raise
        raise StoreUnavailable(str(exc).splitlines()[0]) from exc


@dataclass
class _ReadScope:
    """A ``Store.reading`` scope: the task that opened it, its connection once taken."""

    task: asyncio.Task[Any] | None
    stack: contextlib.AsyncExitStack
    conn: AsyncConnection | None = None


class Store:
    """The database, behind the few operations the use cases need."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        # SQLite allows one writer; queueing writers here is cheaper than letting them
        # spin on SQLITE_BUSY. PostgreSQL serialises on the article row instead.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None
        # The connection of the current ``reading()`` scope, with the task that opened it.
        self._reading: contextvars.ContextVar[_ReadScope | None] = contextvars.ContextVar(
            f"comments-store-reading-{id(self)}", default=None
        )
        # Webhook messages, written in the changes' own transactions.
        self.outbox = Outbox()
        # Reply e-mails' digest window when COMMENTS_SMTP_URL is set (Node.start); None:
        # mail is off and publishing writes no mail rows.
        self.mail_digest_s: float | None = None

    # -- life cycle -------------------------------------------------------------------

    async def close(self) -> None:
        await self.engine.dispose()

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from comments.store.migrate import upgrade

        if self.is_sqlite and self.engine.url.database not in (None, "", ":memory:"):
            # One host, several processes (the server and the CLI): a lock file beside
            # the database serialises them, as the advisory lock does on PostgreSQL.
            path = f"{self.engine.url.database}.migrate-lock"
            with open(path, "a") as lock_file:  # noqa: ASYNC230 - opening is instant
                await asyncio.to_thread(fcntl.flock, lock_file, fcntl.LOCK_EX)
                try:
                    await self._migrate_locked(upgrade)
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
            return
        await self._migrate_locked(upgrade)

    async def _migrate_locked(self, upgrade: Any) -> None:
        async with self._write() as conn:
            if not self.is_sqlite:
                # Nodes starting together on a fresh database: one migrates, the others
                # wait here and then find nothing left to do.
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(7452913001)"))
            await conn.run_sync(upgrade)

    async def ping(self) -> None:
        async with self._read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """Run the reads inside on one connection (nested scopes share it; writes keep
        their own). A post's checks read the guest, the author's state, the network's
        bans, the article and the author's latest comments: one pool checkout instead of
        six (with PostgreSQL's pre-ping, BEGIN and ROLLBACK, 6 round trips each).

        The connection is taken at the first read (a request refused before it reads,
        say a 401, never touches the database) and given back when the scope ends.
        Each statement sees what was committed when it ran, as it did on connections of
        its own: SQLite begins no transaction for a read, and on PostgreSQL the shared
        connection runs in autocommit (under READ COMMITTED, a transaction around reads
        gave no common snapshot either). A task started inside does not use it.
        """
        if self._own_scope() is not None:
            yield
            return
        scope = _ReadScope(asyncio.current_task(), contextlib.AsyncExitStack())
        token = self._reading.set(scope)
        try:
            async with _unavailable(), scope.stack:
                yield
        finally:
            self._reading.reset(token)

    def _own_scope(self) -> _ReadScope | None:
        scope = self._reading.get()
        return scope if scope is not None and scope.task is asyncio.current_task() else None

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        scope = self._own_scope()
        async with _unavailable():
            if scope is None:
                async with self.engine.connect() as conn:
                    yield conn
                return
            if scope.conn is None:
                conn = await scope.stack.enter_async_context(self.engine.connect())
                if not self.is_sqlite:
                    # No BEGIN/ROLLBACK round trips; SQLite sends none for reads anyway
                    # (and would spend a thread hop setting the mode there and back).
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                scope.conn = conn
            yield scope.conn

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        lock = self._write_lock or contextlib.nullcontext()
        async with _unavailable(), lock, self.engine.begin() as conn:
            yield conn

    def _insert(self, table: sa.Table) -> Any:
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)

    # -- sites ------------------------------------------------------------------------

    async def create_site(self, slug: str, settings: dict[str, Any]) -> bool:
        """Create a site; False when it exists already."""
        async with self._write() as conn:
            stmt = (
                self._insert(sites)
                .values(slug=slug, settings=json.dumps(settings), created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["slug"])
            )
            result = await conn.execute(stmt)
            return bool(result.rowcount)

    async def get_site(self, slug: str) -> dict[str, Any] | None:
        async with self._read() as conn:
            row = (
                await conn.execute(sa.select(sites.c.settings).where(sites.c.slug == slug))
            ).first()
        return None if row is None else dict(json.loads(row.settings))

    async def save_site(self, slug: str, settings: dict[str, Any]) -> None:
        async with self._write() as conn:
            result = await conn.execute(
                sa.update(sites).where(sites.c.slug == slug).values(settings=json.dumps(settings))
            )
            if not result.rowcount:
                raise NotFound(slug)

    async def list_sites(self) -> list[str]:
        async with self._read() as conn:
            rows = await conn.execute(sa.select(sites.c.slug).order_by(sites.c.slug))
            return [r.slug for r in rows]

    # -- authors ----------------------------------------------------------------------

    async def create_guest(self, site: str, name: str) -> tuple[Author, str]:
        """A new guest identity and the token that proves it (returned once)."""
        token = secrets.token_urlsafe(24)
        author = Author(id=f"{GUEST_PREFIX}{new_id()}", name=name)
        async with self._write() as conn:
            await conn.execute(
                sa.insert(authors).values(
                    id=author.id,
                    site=site,
                    kind="guest",
                    name=name,
                    guest_token_hash=hash_token(token),
                    created_at=utcnow(),
                )
            )
        return author, token

    async def guest_by_token(self, site: str, token: str) -> Author | None:
        async with self._read() as conn:
            row = (
                await conn.execute(_GUEST_BY_TOKEN, {"hash": hash_token(token), "site": site})
            ).first()
        return None if row is None else Author(id=row.id, name=row.name)

    async def upsert_sso_author(self, site: str, author: Author) -> None:
        async with self._write() as conn:
            stmt = self._insert(authors).values(
                id=author.id, site=site, kind="sso", name=author.name, created_at=utcnow()
            )
            stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={"name": author.name})
            await conn.execute(stmt)

    # -- articles ---------------------------------------------------------------------

    async def get_article(self, site: str, key: str) -> ArticleRow | None:
        async with self._read() as conn:
            return await self._get_article(conn, site, key)

    async def _get_article(self, conn: AsyncConnection, site: str, key: str) -> ArticleRow | None:
        row = (await conn.execute(_ARTICLE, {"site": site, "key": key})).first()
        if row is None:
            return None
        return ArticleRow(
            id=row.id,
            site=row.site,
            key=row.key,
            closed=row.closed,
            premoderated=row.premoderated,
            last_seq=row.last_seq,
        )

    async def _ensure_article(self, conn: AsyncConnection, site: str, key: str) -> ArticleRow:
        found = await self._get_article(conn, site, key)
        if found is not None:
            return found
        await conn.execute(
            self._insert(articles)
            .values(site=site, key=key, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["site", "key"])
        )
        created = await self._get_article(conn, site, key)
        assert created is not None
        return created

    async def set_article_state(
        self, site: str, key: str, *, closed: bool | None = None, premoderated: bool | None = None
    ) -> ArticleRow:
        async with self._write() as conn:
            article = await self._ensure_article(conn, site, key)
            values: dict[str, bool] = {}
            if closed is not None:
                values["closed"] = closed
            if premoderated is not None:
                values["premoderated"] = premoderated
            if values:
                await conn.execute(
                    sa.update(articles).where(articles.c.id == article.id).values(**values)
                )
            updated = await self._get_article(conn, site, key)
            assert updated is not None
            return updated

    async def latest_seqs(self, site: str, keys: Sequence[str]) -> dict[str, int]:
        """The current event cursor of each article that exists."""
        if not keys:
            return {}
        async with self._read() as conn:
            rows = await conn.execute(
                sa.select(articles.c.key, articles.c.last_seq).where(
                    articles.c.site == site, articles.c.key.in_(list(keys))
                )
            )
            return {r.key: r.last_seq for r in rows}

    # -- comments ---------------------------------------------------------------------

    async def get_comment(self, comment_id: str) -> Comment | None:
        async with self._read() as conn:
            return await self._get_comment(conn, comment_id)

    async def _get_comment(self, conn: AsyncConnection, comment_id: str) -> Comment | None:
        if "\x00" in comment_id:  # no id holds one, and PostgreSQL refuses it in text
            return None
        row = (
            await conn.execute(
                sa.select(*_comment_columns())
                .select_from(comments.join(articles, comments.c.article_id == articles.c.id))
                .where(comments.c.id == comment_id)
            )
        ).first()
        return None if row is None else _row_to_comment(row)

    async def is_duplicate(self, author_id: str, body: str, within: timedelta) -> bool:
        """Did this author post this exact text (still visible or waiting) lately?"""
        since = utcnow() - within
        async with self._read() as conn:
            row = (
                await conn.execute(
                    _DUPLICATE, {"author_id": author_id, "since": since, "body": body}
                )
            ).first()
        return row is not None

    async def create_comment(
        self,
        *,
        site: str,
        article: str,
        author: Author,
        body: str,
        parent: str | None,
        status: Status = Status.PENDING,
        network_key: str | None = None,
        reasons: Sequence[str] = (),
        scores: dict[str, float] | None = None,
        unscored: bool = False,
        risk: float | None = None,
        known_article: ArticleRow | None = None,
    ) -> tuple[Comment, EventRow | None]:
        """Store a new comment; when ``status`` is PUBLISHED its event is written with it.
        A SHADOWED comment takes the article's current seq as its place (see
        ``list_published``), and no event.

        One write transaction whatever the status (a post decided before it is stored
        costs one round of: the article, its seq, the comment, the event). ``scores``
        and ``unscored`` are the decision's columns (see ``Decider.apply_scores``).
        ``known_article``: the article as the post's checks read it; its id is not read
        again (articles are never deleted), except for a SHADOWED comment, which needs
        the current ``last_seq``.

        Raises:
            NotFound: ``parent`` is not a published comment of the same article (nor
                one of this author's own shadowed ones: they look published to them).
        """
        now = utcnow()
        async with self._write() as conn:
            if known_article is not None and status is not Status.SHADOWED:
                art_id = known_article.id
            else:
                art = await self._ensure_article(conn, site, article)
                art_id = art.id
            if parent is not None:
                found = (
                    await conn.execute(
                        sa.select(comments.c.id).where(
                            comments.c.id == parent,
                            comments.c.article_id == art_id,
                            visible_to(author.id),
                        )
                    )
                ).first()
                if found is None:
                    raise NotFound(parent)
            seq: int | None = None
            if status is Status.PUBLISHED:
                seq = await self._next_seq(conn, art_id)
            elif status is Status.SHADOWED:
                seq = art.last_seq
            comment = Comment(
                id=new_id(),
                site=site,
                article=article,
                parent=parent,
                author=author,
                body=body,
                status=status,
                seq=seq,
                created_at=now,
            )
            values: dict[str, Any] = {
                "id": comment.id,
                "site": site,
                "article_id": art_id,
                "parent_id": parent,
                "author_id": author.id,
                "author_name": author.name,
                "body": body,
                "status": status,
                "seq": seq,
                "created_at": now,
                "updated_at": now,
                "network_key": network_key,
                "reasons": json.dumps(list(reasons)) if reasons else None,
                "unscored": unscored,
            }
            if scores is not None:
                values["scores"] = json.dumps(scores)
            if risk is not None:
                values["risk"] = risk
            await conn.execute(_INSERT_COMMENT, values)
            ev: EventRow | None = None
            if status is Status.PUBLISHED:
                assert seq is not None
                encoded = comment_json(comment)
                ev = await self._append_event(
                    conn,
                    art_id,
                    seq,
                    EventType.PUBLISHED,
                    comment.id,
                    published_event(seq, comment, encoded),
                )
                ev = replace(ev, comment_json=encoded)
            await self._notify(conn, comment)
            return comment, ev

    async def _notify(self, conn: AsyncConnection, comment: Comment) -> None:
        """The webhook message of a comment's new status (published, held, rejected)."""
        if comment.status in (Status.PUBLISHED, Status.HELD, Status.REJECTED):
            await self.outbox.enqueue(
                conn,
                comment.site,
                f"comment.{comment.status}",
                comment.article,
                {"comment": comment.to_json()},
            )
        if comment.status is Status.PUBLISHED and self.mail_digest_s is not None:
            # The reply mail in the publication's own transaction (comments/store/mail.py).
            await enqueue_reply(conn, comment, self.mail_digest_s)

    async def set_scores(
        self, comment_id: str, scores: dict[str, float], *, risk: float | None = None
    ) -> None:
        """Record a comment's scores without changing its state (shadowed comments)."""
        async with self._write() as conn:
            await conn.execute(
                sa.update(comments)
                .where(comments.c.id == comment_id)
                .values(scores=json.dumps(scores), **({} if risk is None else {"risk": risk}))
            )

    async def _next_seq(self, conn: AsyncConnection, article_id: int) -> int:
        row = (await conn.execute(_NEXT_SEQ, {"article_id": article_id})).one()
        return int(row.last_seq)

    async def _append_event(
        self,
        conn: AsyncConnection,
        article_id: int,
        seq: int,
        kind: EventType,
        cid: str,
        payload: str,
    ) -> EventRow:
        await conn.execute(
            _INSERT_EVENT,
            {
                "article_id": article_id,
                "seq": seq,
                "type": str(kind),
                "comment_id": cid,
                "payload": payload,
                "created_at": utcnow(),
            },
        )
        return EventRow(seq=seq, payload=payload)

    async def _set_status(
        self, conn: AsyncConnection, cid: str, status: Status, seq: int | None = None
    ) -> None:
        await conn.execute(
            sa.update(comments)
            .where(comments.c.id == cid)
            .values(status=status, seq=seq, updated_at=utcnow())
        )

    async def _publish(
        self, conn: AsyncConnection, article_id: int, comment: Comment
    ) -> tuple[Comment, EventRow]:
        seq = await self._next_seq(conn, article_id)
        published = _replace(comment, status=Status.PUBLISHED, seq=seq)
        await self._set_status(conn, comment.id, Status.PUBLISHED, seq)
        ev = await self._append_event(
            conn, article_id, seq, EventType.PUBLISHED, comment.id, published_event(seq, published)
        )
        return published, ev

    async def withdraw(self, conn: AsyncConnection, article_id: int, comment: Comment) -> EventRow:
        """Take a published comment out of its article's stream: the one way a comment
        leaves it (reject, delete; erasure and edits that withdraw are to call it too).

        Its earlier events that carry its text become ``comment.redacted`` (same seq, no
        body or author), so no replay or gap fill serves them again, and
        ``comment.removed`` is appended; hubs redact their in-memory copies when that
        event reaches them. Call it inside the transaction that changes the comment's
        status, so no reader ever sees the removal without the redaction.

        Only a published comment has unredacted events, all from its publication on:
        the search starts at its seq (the primary key's range) rather than reading the
        whole article's stream.
        """
        assert comment.seq is not None, "only a published comment is in the stream"
        await self.redact_text(conn, article_id, comment)
        # Its place, for the tombstone it leaves while published replies remain.
        await conn.execute(
            sa.update(comments).where(comments.c.id == comment.id).values(removed_seq=comment.seq)
        )
        seq = await self._next_seq(conn, article_id)
        await self.outbox.enqueue(
            conn,
            comment.site,
            "comment.removed",
            comment.article,
            {"comment": {"id": comment.id, "site": comment.site, "article": comment.article}},
        )
        return await self._append_event(
            conn, article_id, seq, EventType.REMOVED, comment.id, removed_event(seq, comment.id)
        )

    async def redact_text(self, conn: AsyncConnection, article_id: int, comment: Comment) -> None:
        """Turn the published comment's stored events that carry its text (its
        publication, its edits) into ``comment.redacted``: the half of ``withdraw`` that
        an edit needs too, in the transaction that changes its text."""
        assert comment.seq is not None, "only a published comment is in the stream"
        found = await conn.execute(
            sa.select(events.c.seq).where(
                events.c.article_id == article_id,
                events.c.seq >= comment.seq,
                events.c.comment_id == comment.id,
                events.c.type.in_([str(t) for t in TEXT_EVENTS]),
            )
        )
        redacted = [
            {"b_seq": seq, "b_payload": redacted_event(seq, comment.id)} for seq in found.scalars()
        ]
        if redacted:
            await conn.execute(
                sa.update(events)
                .where(events.c.article_id == article_id, events.c.seq == sa.bindparam("b_seq"))
                .values(type=str(EventType.REDACTED), payload=sa.bindparam("b_payload")),
                redacted,
            )

    async def transition(
        self,
        comment_id: str,
        to: Status,
        *,
        allowed_from: Sequence[Status],
        values: dict[str, Any] | None = None,
        only_unscored: bool = False,
    ) -> Change | None:
        """Move a comment to ``to`` if it is in one of ``allowed_from``; None otherwise.

        The status check and the change are one conditional UPDATE, so when several
        nodes or moderators race for the same comment exactly one wins. Publishing
        assigns a seq and writes ``comment.published``; leaving ``published`` writes
        ``comment.removed``. ``values`` sets other columns in the same update
        (scores, reasons, unscored, reports). ``only_unscored`` also requires a comment
        held without a score: a re-score delivered twice then changes it once.

        Raises:
            NotFound: no such comment.
        """
        async with self._write() as conn:
            current = await self._get_comment(conn, comment_id)
            if current is None:
                raise NotFound(comment_id)
            conditions = [
                comments.c.id == comment_id,
                comments.c.status == current.status,
                comments.c.status.in_([str(s) for s in allowed_from]),
            ]
            if only_unscored:
                conditions.append(comments.c.unscored.is_(True))
            claimed = await conn.execute(
                sa.update(comments)
                .where(*conditions)
                .values(status=to, updated_at=utcnow(), **(values or {}))
            )
            if not claimed.rowcount:
                return None
            art_id = (
                await conn.execute(
                    sa.select(comments.c.article_id).where(comments.c.id == comment_id)
                )
            ).scalar_one()
            if to is Status.PUBLISHED:
                published, ev = await self._publish(conn, art_id, current)
                await self._notify(conn, published)
                return Change(comment=published, event=ev, previous=current.status)
            ev_row: EventRow | None = None
            if to is Status.SHADOWED:  # its place for its author: after the latest event
                last = (
                    await conn.execute(
                        sa.select(articles.c.last_seq).where(articles.c.id == art_id)
                    )
                ).scalar_one()
                await self._set_status(conn, comment_id, to, int(last))
                return Change(
                    comment=_replace(current, status=to, seq=int(last)),
                    event=None,
                    previous=current.status,
                )
            if current.status is Status.PUBLISHED:
                ev_row = await self.withdraw(conn, art_id, current)
            await self._set_status(conn, comment_id, to)
            await self._notify(conn, _replace(current, status=to, seq=None))
            return Change(
                comment=_replace(current, status=to, seq=None),
                event=ev_row,
                previous=current.status,
            )

    async def list_published(
        self,
        site: str,
        article: str,
        *,
        newest_first: bool,
        cursor: int | None,
        limit: int,
        viewer: str | None = None,
    ) -> Page:
        """One page of published comments by keyset on seq (never OFFSET).

        ``viewer`` (an author id) also gets their own shadowed comments, each placed
        right after the published comment whose seq it carries: a page holds those
        whose place falls within the page's range of seqs, so pages stay keyset pages
        of published comments and nobody else's page changes.
        """
        async with self._read() as conn:
            art = await self._get_article(conn, site, article)
            if art is None:
                return Page(comments=[], next=None, latest_seq=0)
            q = (
                sa.select(*_comment_columns())
                .select_from(comments.join(articles, comments.c.article_id == articles.c.id))
                .where(comments.c.article_id == art.id, comments.c.status == Status.PUBLISHED)
            )
            if newest_first:
                if cursor is not None:
                    q = q.where(comments.c.seq < cursor)
                q = q.order_by(comments.c.seq.desc())
            else:
                if cursor is not None:
                    q = q.where(comments.c.seq > cursor)
                q = q.order_by(comments.c.seq.asc())
            rows = (await conn.execute(q.limit(limit + 1))).all()
            more = len(rows) > limit
            page = [_row_to_comment(r) for r in rows[:limit]]
            nxt = page[-1].seq if more and page else None
            if viewer is not None:
                page = await self._with_shadowed(
                    conn, art.id, viewer, page, newest_first=newest_first, cursor=cursor, end=nxt
                )
        return Page(comments=page, next=nxt, latest_seq=art.last_seq)

    async def _with_shadowed(
        self,
        conn: AsyncConnection,
        article_id: int,
        viewer: str,
        page: list[Comment],
        *,
        newest_first: bool,
        cursor: int | None,
        end: int | None,
    ) -> list[Comment]:
        q = (
            sa.select(*_comment_columns())
            .select_from(comments.join(articles, comments.c.article_id == articles.c.id))
            .where(
                comments.c.author_id == viewer,
                comments.c.article_id == article_id,
                comments.c.status == Status.SHADOWED,
            )
        )
        if newest_first:
            if cursor is not None:
                q = q.where(comments.c.seq < cursor)
            if end is not None:
                q = q.where(comments.c.seq >= end)
        else:
            if cursor is not None:
                q = q.where(comments.c.seq > cursor)
            if end is not None:
                q = q.where(comments.c.seq <= end)
        # One author's own shadowed comments on one article: few, bounded all the same.
        shadowed = [_row_to_comment(r) for r in await conn.execute(q.limit(500))]
        if not shadowed:
            return page

        def place(c: Comment) -> tuple[int, int, float]:
            # A shadowed comment sits after the published one of the same seq.
            return (c.seq or 0, int(c.status is Status.SHADOWED), c.created_at.timestamp())

        return sorted([*page, *shadowed], key=place, reverse=newest_first)

    async def events_since(
        self, site: str, article: str, since: int, *, limit: int, until: int | None = None
    ) -> list[EventRow]:
        """Events with ``since < seq (<= until)``, in order, at most ``limit``."""
        async with self._read() as conn:
            q = (
                sa.select(events.c.seq, events.c.payload)
                .select_from(events.join(articles, events.c.article_id == articles.c.id))
                .where(articles.c.site == site, articles.c.key == article, events.c.seq > since)
                .order_by(events.c.seq)
                .limit(limit)
            )
            if until is not None:
                q = q.where(events.c.seq <= until)
            rows = await conn.execute(q)
            return [EventRow(seq=r.seq, payload=r.payload) for r in rows]

    async def counts(
        self, site: str, keys: Sequence[str], viewer: str | None = None
    ) -> dict[str, int]:
        """Published comments per article; ``viewer`` (an author id) also counts their
        own shadowed ones, as they see them."""
        result = dict.fromkeys(keys, 0)
        if not keys:
            return result
        async with self._read() as conn:
            rows = await conn.execute(
                sa.select(articles.c.key, sa.func.count(comments.c.id))
                .select_from(articles.join(comments, comments.c.article_id == articles.c.id))
                .where(
                    articles.c.site == site,
                    articles.c.key.in_(list(keys)),
                    comments.c.status == Status.PUBLISHED,
                )
                .group_by(articles.c.key)
            )
            for key, n in rows:
                result[key] = int(n)
            if viewer is not None:
                own = await conn.execute(
                    sa.select(articles.c.key, sa.func.count(comments.c.id))
                    .select_from(articles.join(comments, comments.c.article_id == articles.c.id))
                    .where(
                        comments.c.author_id == viewer,
                        comments.c.status == Status.SHADOWED,
                        articles.c.site == site,
                        articles.c.key.in_(list(keys)),
                    )
                    .group_by(articles.c.key)
                )
                for key, n in own:
                    result[key] += int(n)
        return result

    # -- secrets ----------------------------------------------------------------------

    async def shared_secret(self, name: str) -> str:
        """A secret every node shares: generated by the first node that asks, then read."""
        async with self._write() as conn:
            await conn.execute(
                self._insert(server_secrets)
                .values(name=name, value=secrets.token_hex(32), created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["name"])
            )
            value = (
                await conn.execute(
                    sa.select(server_secrets.c.value).where(server_secrets.c.name == name)
                )
            ).scalar_one()
        return str(value)


def _replace(comment: Comment, **changes: Any) -> Comment:
    from dataclasses import replace

    return replace(comment, **changes)


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside the writer; busy_timeout covers the odd second
    # process (the CLI) writing while the server runs. The wait is set first: even the
    # switch to WAL may wait on the server's start-up writes. 30 s: a loaded host can
    # keep a writer's transaction open for seconds between its statements.
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def create_store(url: str, *, pool_size: int = 10, pool_timeout: float = 5.0) -> Store:
    """A Store for a ``sqlite+aiosqlite://`` or ``postgresql+asyncpg://`` URL."""
    if url.startswith("sqlite"):
        from comments.store import sqlite_driver

        engine = create_async_engine(url, module=sqlite_driver.dbapi())
        sa_event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    else:
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            # Fail fast so a post can answer 503 instead of hanging while PG is away.
            connect_args={"timeout": 5},
            pool_timeout=pool_timeout,
        )
    return Store(engine)
