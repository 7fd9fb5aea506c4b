"""Queries of the moderation side: moderators, tickets, bans, reports, queue, audit."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from comments.models import Comment, Status, format_time, utcnow
from comments.moderation import roles
from comments.store.review_tables import audit, ban_networks, moderators, reports, tickets
from comments.store.store import Store, _comment_columns, _row_to_comment, hash_token
from comments.store.tables import articles, authors, comments

MODERATOR_NAME_MAX = 100  # moderators.name is String(100)
SCOPE_AUTHOR = "author"
SCOPE_NETWORK = "author+network"
SCOPES = (SCOPE_AUTHOR, SCOPE_NETWORK)
# The networks a ban covers: those of the author's most recent comments, at most this many.
BAN_NETWORKS_MAX = 50
SHADOW_REASON = "author is shadow-banned: shown only to its author"
NETWORK_SHADOW_REASON = "posted from a shadow-banned network: shown only to its author"


@dataclass(frozen=True)
class Moderator:
    id: int
    site: str
    name: str
    # comments.moderation.roles: "moderator" or "admin"; article-key prefixes ((): all).
    role: str = "moderator"
    scopes: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_act(self, article_key: str) -> bool:
        """May this moderator see and act on the article ``article_key`` of its site?"""
        return roles.may_act(self.scopes, article_key)


@dataclass(frozen=True)
class ReviewItem:
    """A comment as moderators see it: with its scores, reasons and reports."""

    comment: Comment
    scores: dict[str, float]
    reasons: list[str]
    reports: int
    unscored: bool
    # The article's page where known (comments.store.article_pages).
    article_title: str | None = None
    article_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.comment.to_json(),
            "article_title": self.article_title,
            "article_url": self.article_url,
            "scores": self.scores,
            "reasons": self.reasons,
            "reports": self.reports,
            # Held for everyone but its author, who sees it as published.
            "shadow": self.comment.status is Status.SHADOWED,
        }


@dataclass(frozen=True)
class AuthorState:
    exists: bool
    banned: bool  # an active ban that refuses (403)
    has_approved_comment: bool
    shadowed: bool = False  # an active shadow ban


@dataclass(frozen=True)
class Ban:
    """An author's ban as moderators see it (``GET …/bans``, the audit log)."""

    author: str
    name: str
    kind: str  # "guest" or "sso"
    scope: str
    shadow: bool
    until: datetime | None
    reason: str
    by: str | None
    at: datetime | None
    networks: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "author": self.author,
            "name": self.name,
            "scope": self.scope,
            "shadow": self.shadow,
            "until": None if self.until is None else format_time(self.until),
            "reason": self.reason,
            "by": self.by,
            "at": None if self.at is None else format_time(self.at),
        }

    def summary(self) -> dict[str, Any]:
        """What the audit log keeps of it (old and new): no network keys, a count."""
        return {
            "scope": self.scope,
            "shadow": self.shadow,
            "until": None if self.until is None else format_time(self.until),
            "reason": self.reason,
            "networks": self.networks,
        }


def default_scope(kind: str) -> str:
    """Guests are banned with their network; signed-in readers (the partner vouches for
    who they are) by identity alone."""
    return SCOPE_NETWORK if kind == "guest" else SCOPE_AUTHOR


# What every post reads, built once (see comments/store/store.py, _ARTICLE).
_AUTHOR_BAN = sa.select(authors.c.banned, authors.c.banned_until, authors.c.ban_shadow).where(
    authors.c.id == sa.bindparam("author_id"), authors.c.site == sa.bindparam("site")
)
# With whether any comment of theirs is published (a second statement before).
_AUTHOR_STATE = _AUTHOR_BAN.add_columns(
    sa.exists()
    .where(comments.c.author_id == authors.c.id, comments.c.status == Status.PUBLISHED)
    .label("approved")
)
_NETWORK_BANS = sa.select(ban_networks.c.shadow, ban_networks.c.created_at).where(
    ban_networks.c.site == sa.bindparam("site"),
    ban_networks.c.network_key == sa.bindparam("network_key"),
    sa.or_(
        ban_networks.c.until.is_(None),
        ban_networks.c.until > sa.bindparam("now", type_=ban_networks.c.until.type),
    ),
)


def _active(row: Any, now: datetime) -> bool:
    return bool(row.banned) and (row.banned_until is None or _aware(row.banned_until) > now)


def _ban_of(row: Any, networks: int = 0) -> Ban:
    return Ban(
        author=row.id,
        name=row.name,
        kind=row.kind,
        scope=row.ban_scope or SCOPE_AUTHOR,
        shadow=bool(row.ban_shadow),
        until=None if row.banned_until is None else _aware(row.banned_until),
        reason=row.ban_reason or "",
        by=row.banned_by,
        at=None if row.banned_at is None else _aware(row.banned_at),
        networks=networks,
    )


_BAN_COLUMNS = (
    authors.c.id,
    authors.c.name,
    authors.c.kind,
    authors.c.banned,
    authors.c.banned_until,
    authors.c.ban_reason,
    authors.c.ban_scope,
    authors.c.ban_shadow,
    authors.c.banned_by,
    authors.c.banned_at,
)

_UNBANNED = {
    "banned": False,
    "banned_until": None,
    "ban_reason": None,
    "ban_scope": None,
    "ban_shadow": False,
    "banned_by": None,
    "banned_at": None,
}


_MODERATOR_COLUMNS = (
    moderators.c.id,
    moderators.c.site,
    moderators.c.name,
    moderators.c.role,
    moderators.c.scopes,
)


def _moderator(row: Any) -> Moderator:
    return Moderator(
        id=row.id,
        site=row.site,
        name=row.name,
        role=row.role,
        scopes=tuple(json.loads(row.scopes or "[]")),
    )


def _item(row: Any) -> ReviewItem:
    reasons: list[str] = json.loads(row.reasons) if row.reasons else []
    reports = int(row.reports)
    if reports:  # docs/api.md: a reported comment says so among its reasons
        reasons.append(f"reported {reports} {'time' if reports == 1 else 'times'}")
    return ReviewItem(
        comment=_row_to_comment(row),
        scores=json.loads(row.scores) if row.scores else {},
        reasons=reasons,
        reports=reports,
        unscored=bool(row.unscored),
        article_title=row.article_title,
        article_url=row.article_url,
    )


def _item_query() -> Any:
    return sa.select(
        *_comment_columns(),
        comments.c.scores,
        comments.c.reasons,
        comments.c.reports,
        comments.c.unscored,
        articles.c.title.label("article_title"),
        articles.c.url.label("article_url"),
    ).select_from(comments.join(articles, comments.c.article_id == articles.c.id))


class ReviewStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._decisions = asyncio.Lock()

    # -- decisions --------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def deciding(self, comment_id: str) -> AsyncIterator[None]:
        """Moderator decisions on one comment, one at a time across nodes: the second
        of two moderators reads the first one's decision (and its audit entry) instead
        of undoing it."""
        if self.store.is_sqlite:
            # SQLite is the single-node setup: a lock of this process is enough.
            async with self._decisions:
                yield
            return
        digest = hashlib.sha256(b"comments-decision:" + comment_id.encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        # A transaction-scoped advisory lock: released when this connection commits,
        # also when the node dies mid-decision.
        async with self.store._write() as conn:
            await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            yield

    async def last_decision(self, site: str, comment_id: str) -> tuple[str, str] | None:
        """(moderator, action) of the latest approve or reject of a comment."""
        async with self.store._read() as conn:
            row = (
                await conn.execute(
                    sa.select(audit.c.moderator, audit.c.action)
                    .where(
                        audit.c.site == site,
                        audit.c.target == f"comment:{comment_id}",
                        audit.c.action.in_(["approve", "reject"]),
                    )
                    .order_by(audit.c.id.desc())
                    .limit(1)
                )
            ).first()
        return None if row is None else (row.moderator, row.action)

    # -- moderators and tickets -------------------------------------------------------

    async def add_moderator(
        self, site: str, name: str, *, role: str = "moderator", scopes: Sequence[str] = ()
    ) -> str:
        """Create a moderator and return their token (shown once, stored hashed).
        ``role`` and ``scopes`` are validated by the caller (comments.moderation.roles).

        Raises:
            ValueError: the name is empty, too long or unprintable, or already active.
        """
        if not 1 <= len(name) <= MODERATOR_NAME_MAX or not name.isprintable():
            raise ValueError(f"a moderator name has 1 to {MODERATOR_NAME_MAX} printable characters")
        token = "mod_" + secrets.token_urlsafe(32)
        async with self.store._write() as conn:
            active = (
                await conn.execute(
                    sa.select(moderators.c.id).where(
                        moderators.c.site == site,
                        moderators.c.name == name,
                        moderators.c.revoked_at.is_(None),
                    )
                )
            ).first()
            if active is not None:
                raise ValueError(f"moderator {name!r} of {site!r} exists; revoke it first")
            await conn.execute(
                sa.insert(moderators).values(
                    site=site,
                    name=name,
                    token_hash=hash_token(token),
                    created_at=utcnow(),
                    role=role,
                    scopes=json.dumps(list(scopes)),
                )
            )
        return token

    async def revoke_moderator(self, site: str, name: str) -> bool:
        async with self.store._write() as conn:
            revoked = (
                await conn.execute(
                    sa.update(moderators)
                    .where(
                        moderators.c.site == site,
                        moderators.c.name == name,
                        moderators.c.revoked_at.is_(None),
                    )
                    .values(revoked_at=utcnow())
                    .returning(moderators.c.id)
                )
            ).all()
            # Tickets not yet redeemed die with the token (redeeming checks too, but a
            # ticket is a credential: nothing of a revoked moderator should stay usable).
            if revoked:
                await conn.execute(
                    sa.delete(tickets).where(tickets.c.moderator_id.in_([r.id for r in revoked]))
                )
            return bool(revoked)

    async def active_moderators(self, ids: Collection[int]) -> dict[int, Moderator]:
        """Those of ``ids`` whose token is still valid, as they are now: open sockets
        compare it with what they were opened as, and close on any difference."""
        if not ids:
            return {}
        async with self.store._read() as conn:
            rows = (
                await conn.execute(
                    sa.select(*_MODERATOR_COLUMNS).where(
                        moderators.c.id.in_(sorted(ids)), moderators.c.revoked_at.is_(None)
                    )
                )
            ).all()
        return {r.id: _moderator(r) for r in rows}

    async def moderator_by_token(self, token: str) -> Moderator | None:
        async with self.store._read() as conn:
            row = (
                await conn.execute(
                    sa.select(*_MODERATOR_COLUMNS).where(
                        moderators.c.token_hash == hash_token(token),
                        moderators.c.revoked_at.is_(None),
                    )
                )
            ).first()
        return None if row is None else _moderator(row)

    async def create_ticket(self, moderator: Moderator, ttl: timedelta) -> str:
        ticket = secrets.token_urlsafe(24)
        now = utcnow()
        async with self.store._write() as conn:
            # Expired tickets are swept here rather than by a timer of their own.
            await conn.execute(sa.delete(tickets).where(tickets.c.expires_at < now))
            await conn.execute(
                sa.insert(tickets).values(
                    ticket_hash=hash_token(ticket), moderator_id=moderator.id, expires_at=now + ttl
                )
            )
        return ticket

    async def redeem_ticket(self, ticket: str) -> Moderator | None:
        """The ticket's moderator, once: the ticket is deleted as it is read."""
        async with self.store._write() as conn:
            row = (
                await conn.execute(
                    sa.delete(tickets)
                    .where(tickets.c.ticket_hash == hash_token(ticket))
                    .returning(tickets.c.moderator_id, tickets.c.expires_at)
                )
            ).first()
            if row is None or _aware(row.expires_at) < utcnow():
                return None
            mod = (
                await conn.execute(
                    sa.select(*_MODERATOR_COLUMNS).where(
                        moderators.c.id == row.moderator_id, moderators.c.revoked_at.is_(None)
                    )
                )
            ).first()
        return None if mod is None else _moderator(mod)

    # -- authors ----------------------------------------------------------------------

    async def author_state(
        self, site: str, author_id: str, *, besides: str | None = None
    ) -> AuthorState:
        """``besides``: a comment that does not count as approved (the one being decided:
        an edited comment does not vouch for its own new text)."""
        async with self.store._read() as conn:
            row = (
                await conn.execute(
                    _AUTHOR_STATE if besides is None else _AUTHOR_BAN,
                    {"author_id": author_id, "site": site},
                )
            ).first()
            if row is None:
                return AuthorState(exists=False, banned=False, has_approved_comment=False)
            active = _active(row, utcnow())
            banned, shadowed = active and not row.ban_shadow, active and bool(row.ban_shadow)
            approved: Any
            if besides is None:
                approved = row.approved or None  # read with the ban, in one statement
            else:
                approved = (
                    await conn.execute(
                        sa.select(comments.c.id)
                        .where(
                            comments.c.author_id == author_id,
                            comments.c.status == Status.PUBLISHED,
                            comments.c.id != besides,
                        )
                        .limit(1)
                    )
                ).first()
        return AuthorState(
            exists=True,
            banned=banned,
            has_approved_comment=approved is not None,
            shadowed=shadowed,
        )

    # -- bans -------------------------------------------------------------------------

    async def ban(
        self,
        site: str,
        author_id: str,
        *,
        by: str,
        reason: str = "",
        until: datetime | None = None,
        scope: str | None = None,
        shadow: bool = False,
    ) -> tuple[Ban | None, Ban] | None:
        """Ban an author (replacing any ban they had); None when there is no such author.
        Returns the ban it replaced (None if there was none active) and the new one.

        With the network scope, the networks of the author's recent comments are
        banned too, as their keys, for as long as the ban lasts."""
        now = utcnow()
        async with self.store._write() as conn:
            row = (
                await conn.execute(
                    sa.select(*_BAN_COLUMNS).where(
                        authors.c.id == author_id, authors.c.site == site
                    )
                )
            ).first()
            if row is None:
                return None
            old = await self._active_ban(conn, row, now)
            scope = scope or default_scope(row.kind)
            await conn.execute(
                sa.update(authors)
                .where(authors.c.id == author_id)
                .values(
                    banned=True,
                    banned_until=until,
                    ban_reason=reason,
                    ban_scope=scope,
                    ban_shadow=shadow,
                    banned_by=by,
                    banned_at=now,
                )
            )
            await conn.execute(sa.delete(ban_networks).where(ban_networks.c.author_id == author_id))
            keys: list[str] = []
            if scope == SCOPE_NETWORK and (until is None or until > now):
                recent = (
                    sa.select(comments.c.network_key)
                    .where(comments.c.author_id == author_id, comments.c.network_key.is_not(None))
                    .group_by(comments.c.network_key)
                    .order_by(sa.func.max(comments.c.created_at).desc())
                    .limit(BAN_NETWORKS_MAX)
                )
                keys = [r.network_key for r in await conn.execute(recent)]
            if keys:
                await conn.execute(
                    sa.insert(ban_networks),
                    [
                        {
                            "site": site,
                            "network_key": key,
                            "author_id": author_id,
                            "shadow": shadow,
                            "until": until,
                            "created_at": now,
                        }
                        for key in keys
                    ],
                )
            new = Ban(
                author=row.id,
                name=row.name,
                kind=row.kind,
                scope=scope,
                shadow=shadow,
                until=until,
                reason=reason,
                by=by,
                at=now,
                networks=len(keys),
            )
            await self.store.outbox.enqueue(
                conn,
                site,
                "author.banned",
                f"author:{row.id}",
                {"site": site, "ban": new.to_json()},
            )
        return old, new

    async def unban(self, site: str, author_id: str) -> tuple[bool, Ban | None]:
        """Lift an author's ban and forget its networks: (author found, the ban lifted
        or None when none was active)."""
        now = utcnow()
        async with self.store._write() as conn:
            row = (
                await conn.execute(
                    sa.select(*_BAN_COLUMNS).where(
                        authors.c.id == author_id, authors.c.site == site
                    )
                )
            ).first()
            if row is None:
                return False, None
            old = await self._active_ban(conn, row, now)
            await conn.execute(
                sa.update(authors).where(authors.c.id == author_id).values(**_UNBANNED)
            )
            await conn.execute(sa.delete(ban_networks).where(ban_networks.c.author_id == author_id))
        return True, old

    async def _active_ban(self, conn: Any, row: Any, now: datetime) -> Ban | None:
        if not _active(row, now):
            return None
        count = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(ban_networks)
                .where(ban_networks.c.author_id == row.id)
            )
        ).scalar_one()
        return _ban_of(row, int(count))

    async def bans(self, site: str) -> list[Ban]:
        """The site's active bans, newest first (ended ones are purged first)."""
        await self.purge_expired_bans()
        now = utcnow()
        async with self.store._read() as conn:
            rows = (
                await conn.execute(
                    sa.select(*_BAN_COLUMNS)
                    .where(authors.c.site == site, authors.c.banned.is_(True))
                    .order_by(authors.c.banned_at.desc(), authors.c.id)
                )
            ).all()
            counts = {
                r.author_id: int(r.n)
                for r in await conn.execute(
                    sa.select(ban_networks.c.author_id, sa.func.count().label("n"))
                    .where(ban_networks.c.site == site)
                    .group_by(ban_networks.c.author_id)
                )
            }
        return [_ban_of(r, counts.get(r.id, 0)) for r in rows if _active(r, now)]

    async def purge_expired_bans(self) -> int:
        """End bans whose time is up: their network keys are deleted and the authors'
        ban columns cleared. Returns how many bans ended."""
        now = utcnow()
        expired_networks = ban_networks.c.until.is_not(None) & (ban_networks.c.until <= now)
        expired_authors = (
            authors.c.banned.is_(True)
            & authors.c.banned_until.is_not(None)
            & (authors.c.banned_until <= now)
        )
        # A read first: an idle node (the usual case) takes no write lock, which on
        # SQLite would make an operator's CLI wait behind the sweep.
        async with self.store._read() as conn:
            due = await conn.execute(
                sa.select(sa.literal(1)).where(
                    sa.exists().where(expired_networks) | sa.exists().where(expired_authors)
                )
            )
            if due.first() is None:
                return 0
        async with self.store._write() as conn:
            await conn.execute(sa.delete(ban_networks).where(expired_networks))
            ended = await conn.execute(
                sa.update(authors).where(expired_authors).values(**_UNBANNED)
            )
            return int(ended.rowcount or 0)

    async def network_ban(self, site: str, network_key: str, author_id: str | None) -> str | None:
        """Whether a guest posting from this network is refused ("banned"), silently
        shadowed ("shadow") or let through (None).

        ``author_id`` is the guest's identity when it has one: an identity that had a
        comment published before the network's ban began (a reader sharing the banned
        author's address, such as an office's) keeps posting. A plain ban wins over a
        shadow ban of the same network."""
        now = utcnow()
        async with self.store._read() as conn:
            rows = (
                await conn.execute(
                    _NETWORK_BANS, {"site": site, "network_key": network_key, "now": now}
                )
            ).all()
            if not rows:
                return None
            if author_id is not None:
                began = min(_aware(r.created_at) for r in rows)
                established = (
                    await conn.execute(
                        sa.select(comments.c.id)
                        .where(
                            comments.c.author_id == author_id,
                            comments.c.created_at < began,
                            comments.c.status == Status.PUBLISHED,
                        )
                        .limit(1)
                    )
                ).first()
                if established is not None:
                    return None
        return "shadow" if all(r.shadow for r in rows) else "banned"

    # -- reports ----------------------------------------------------------------------

    async def add_report(self, comment_id: str, reporter: str, reason: str) -> int:
        """Record a report (one per reporter) and return the comment's report count."""
        async with self.store._write() as conn:
            inserted = await conn.execute(
                self.store._insert(reports)
                .values(
                    comment_id=comment_id, reporter=reporter, reason=reason, created_at=utcnow()
                )
                .on_conflict_do_nothing(index_elements=["comment_id", "reporter"])
            )
            # An increment under the row lock, not a recount: two reports committing at
            # once would each count the other's row as missing and store too low a total
            # (and neither would see the count reach the review threshold).
            if inserted.rowcount:
                counted: Any = (
                    sa.update(comments)
                    .where(comments.c.id == comment_id)
                    .values(reports=comments.c.reports + 1)
                    .returning(comments.c.reports)
                )
            else:  # this reader reported it before: the count is unchanged
                counted = sa.select(comments.c.reports).where(comments.c.id == comment_id)
            count = (await conn.execute(counted)).scalar_one()
            if inserted.rowcount:
                await self._report_created(conn, comment_id, reason, int(count))
        return int(count)

    async def _report_created(self, conn: Any, comment_id: str, reason: str, count: int) -> None:
        """The ``report.created`` webhook message (the reporter is not named)."""
        row = (
            await conn.execute(
                sa.select(comments.c.site, articles.c.key)
                .join(articles, articles.c.id == comments.c.article_id)
                .where(comments.c.id == comment_id)
            )
        ).one()
        data = {
            "report": {"comment": comment_id, "site": row.site, "article": row.key},
            "reason": reason,
            "reports": count,
        }
        await self.store.outbox.enqueue(conn, row.site, "report.created", row.key, data)

    async def clear_reports(self, comment_id: str) -> bool:
        """Forget a published comment's reports; False when it had none (any more)."""
        async with self.store._write() as conn:
            # Conditional, so that of two moderators approving it at once one gets 409.
            cleared = await conn.execute(
                sa.update(comments)
                .where(
                    comments.c.id == comment_id,
                    comments.c.status == Status.PUBLISHED,
                    comments.c.reports > 0,
                )
                .values(reports=0)
            )
            if not cleared.rowcount:
                return False
            await conn.execute(sa.delete(reports).where(reports.c.comment_id == comment_id))
            return True

    # -- queue ------------------------------------------------------------------------

    async def item(self, comment_id: str) -> ReviewItem | None:
        if "\x00" in comment_id:  # no id holds one, and PostgreSQL refuses it in text
            return None
        async with self.store._read() as conn:
            row = (await conn.execute(_item_query().where(comments.c.id == comment_id))).first()
        return None if row is None else _item(row)

    async def unscored(self, limit: int) -> list[ReviewItem]:
        """Held only because the classifier was away, oldest first."""
        async with self.store._read() as conn:
            rows = await conn.execute(
                _item_query()
                .where(comments.c.status == Status.HELD, comments.c.unscored.is_(True))
                .order_by(comments.c.created_at)
                .limit(limit)
            )
            return [_item(r) for r in rows]

    async def pending(self, older_than: timedelta, limit: int) -> list[Comment]:
        """Comments left undecided (a node died between storing and deciding)."""
        async with self.store._read() as conn:
            rows = await conn.execute(
                sa.select(*_comment_columns())
                .select_from(comments.join(articles, comments.c.article_id == articles.c.id))
                .where(
                    comments.c.status == Status.PENDING,
                    comments.c.created_at < utcnow() - older_than,
                )
                .order_by(comments.c.created_at)
                .limit(limit)
            )
            return [_row_to_comment(r) for r in rows]

    # -- audit ------------------------------------------------------------------------

    async def audit(
        self, site: str, moderator: str, action: str, target: str, detail: dict[str, Any]
    ) -> None:
        async with self.store._write() as conn:
            await conn.execute(
                sa.insert(audit).values(
                    site=site,
                    at=utcnow(),
                    moderator=moderator,
                    action=action,
                    target=target,
                    detail=json.dumps(detail),
                )
            )

    async def audit_log(
        self, site: str, *, before: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first, by keyset on the entry id; returns the entries and the next cursor."""
        q = sa.select(audit).where(audit.c.site == site)
        if before is not None:
            q = q.where(audit.c.id < before)
        async with self.store._read() as conn:
            rows = (await conn.execute(q.order_by(audit.c.id.desc()).limit(limit + 1))).all()
        entries = [
            {
                "id": r.id,
                "at": format_time(r.at),
                "moderator": r.moderator,
                "action": r.action,
                "target": r.target,
                "detail": json.loads(r.detail),
            }
            for r in rows[:limit]
        ]
        nxt = rows[limit - 1].id if len(rows) > limit else None
        return entries, nxt

    async def held_counts(self) -> dict[str, int]:
        """Held comments per site: the moderation queue's depth, the same on every node.

        A COUNT at scrape time rather than a gauge kept on transitions: comments are held and
        decided on every node, so only the database knows the total. It reads the
        (site, status) index for each site, which costs a few milliseconds every scrape.
        """
        sites = await self.store.list_sites()
        if not sites:
            return {}
        query = (
            sa.select(comments.c.site, sa.func.count())
            .where(comments.c.site.in_(sites), comments.c.status == str(Status.HELD))
            .group_by(comments.c.site)
        )
        async with self.store._read() as conn:  # the store's own outage handling
            found = {row[0]: int(row[1]) for row in await conn.execute(query)}
        return {site: found.get(site, 0) for site in sites}


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
