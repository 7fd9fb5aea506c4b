"""Webhooks of a site (add, list, remove, rotate) and their outbox rows' life: claimed
under a lease, delivered, retried or given up, and the delivery log."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from comments.models import format_time, utcnow
from comments.store.hook_tables import outbox, webhooks
from comments.store.outbox import EVENTS
from comments.store.roles import starts_with

if TYPE_CHECKING:
    from comments.store.store import Store

# The columns a delivery needs, and a log line's.
_CLAIM = (
    outbox.c.id,
    outbox.c.webhook_id,
    outbox.c.event,
    outbox.c.msg_id,
    outbox.c.payload,
    outbox.c.attempts,
    outbox.c.created_at,
)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass(frozen=True)
class Webhook:
    id: int
    site: str
    url: str
    events: tuple[str, ...]
    secret: str
    old_secret: str | None
    old_secret_until: datetime | None

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets that sign now: the current one, and the previous one for as long
        as a rotation keeps it valid."""
        found = [self.secret]
        if self.old_secret and self.old_secret_until and _aware(self.old_secret_until) > now:
            found.append(self.old_secret)
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site,
            "url": self.url,
            "events": list(self.events),
            "rotating_until": format_time(self.old_secret_until)
            if self.old_secret and self.old_secret_until
            else None,
        }


@dataclass(frozen=True)
class Message:
    id: int
    webhook_id: int
    event: str
    msg_id: str
    payload: str
    attempts: int
    created_at: datetime


def _webhook(row: Any) -> Webhook:
    return Webhook(
        id=row.id,
        site=row.site,
        url=row.url,
        events=tuple(json.loads(row.events)),
        secret=row.secret,
        old_secret=row.old_secret,
        old_secret_until=row.old_secret_until,
    )


def _aware(at: datetime) -> datetime:
    from datetime import UTC

    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class WebhookStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- the site's webhooks ----------------------------------------------------------

    async def add(self, site: str, url: str, events: Sequence[str]) -> Webhook:
        """Add (or, for a URL already there, re-subscribe) a webhook; its secret is new
        only when the webhook is. No events: every event."""
        chosen = json.dumps(sorted(set(events) or EVENTS))
        async with self.store._write() as conn:
            row = (
                await conn.execute(
                    sa.select(webhooks).where(webhooks.c.site == site, webhooks.c.url == url)
                )
            ).first()
            if row is None:
                await conn.execute(
                    sa.insert(webhooks).values(
                        site=site,
                        url=url,
                        events=chosen,
                        secret=new_secret(),
                        created_at=utcnow(),
                    )
                )
            else:
                await conn.execute(
                    sa.update(webhooks).where(webhooks.c.id == row.id).values(events=chosen)
                )
            row = (
                await conn.execute(
                    sa.select(webhooks).where(webhooks.c.site == site, webhooks.c.url == url)
                )
            ).one()
        self.store.outbox.forget(site)
        return _webhook(row)

    async def of_site(self, site: str) -> list[Webhook]:
        async with self.store._read() as conn:
            rows = await conn.execute(
                sa.select(webhooks).where(webhooks.c.site == site).order_by(webhooks.c.id)
            )
            return [_webhook(r) for r in rows]

    async def get(self, site: str, url: str) -> Webhook | None:
        async with self.store._read() as conn:
            row = (
                await conn.execute(
                    sa.select(webhooks).where(webhooks.c.site == site, webhooks.c.url == url)
                )
            ).first()
        return _webhook(row) if row is not None else None

    async def by_ids(self, ids: Sequence[int]) -> dict[int, Webhook]:
        async with self.store._read() as conn:
            rows = await conn.execute(sa.select(webhooks).where(webhooks.c.id.in_(list(ids))))
            return {r.id: _webhook(r) for r in rows}

    async def remove(self, site: str, url: str) -> bool:
        """Remove a webhook and its undelivered messages (nobody will take them)."""
        async with self.store._write() as conn:
            row = (
                await conn.execute(
                    sa.select(webhooks.c.id).where(webhooks.c.site == site, webhooks.c.url == url)
                )
            ).first()
            if row is None:
                return False
            await conn.execute(sa.delete(outbox).where(outbox.c.webhook_id == row.id))
            await conn.execute(sa.delete(webhooks).where(webhooks.c.id == row.id))
        self.store.outbox.forget(site)
        return True

    async def rotate(self, site: str, url: str, overlap: timedelta) -> Webhook | None:
        """A new secret; the current one keeps signing too for ``overlap``."""
        async with self.store._write() as conn:
            row = (
                await conn.execute(
                    sa.select(webhooks).where(webhooks.c.site == site, webhooks.c.url == url)
                )
            ).first()
            if row is None:
                return None
            await conn.execute(
                sa.update(webhooks)
                .where(webhooks.c.id == row.id)
                .values(
                    secret=new_secret(),
                    old_secret=row.secret,
                    old_secret_until=utcnow() + overlap,
                )
            )
            row = (await conn.execute(sa.select(webhooks).where(webhooks.c.id == row.id))).one()
        return _webhook(row)

    async def log(
        self, webhook_id: int, limit: int = 50, scopes: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """The webhook's latest messages, newest first. With ``scopes`` (a scoped
        moderator's article-key prefixes), only the messages about their articles and
        the site-wide ones (bans, which every moderator of the site sees)."""
        query = sa.select(outbox).where(outbox.c.webhook_id == webhook_id)
        if scopes:
            query = query.where(
                sa.or_(
                    outbox.c.event.startswith("author.", autoescape=True),
                    *(starts_with(outbox.c.order_key, p) for p in scopes),
                )
            )
        async with self.store._read() as conn:
            rows = await conn.execute(query.order_by(outbox.c.id.desc()).limit(limit))
            return [
                {
                    "id": r.msg_id,
                    "event": r.event,
                    "order_key": r.order_key,
                    "status": r.status,
                    "attempts": r.attempts,
                    "last_status": r.last_status,
                    "last_error": r.last_error,
                    "created_at": format_time(r.created_at),
                    "next_attempt_at": format_time(r.next_attempt_at)
                    if r.status == "pending"
                    else None,
                    "done_at": format_time(r.done_at) if r.done_at else None,
                }
                for r in rows
            ]

    # -- delivery ---------------------------------------------------------------------

    async def claim(self, limit: int, lease: timedelta) -> list[Message]:
        """Take up to ``limit`` messages due now, each the oldest undelivered one of its
        webhook and article (order per article), under a lease: another node skips them
        until it ends (a node that died mid-delivery leaves them to be taken again)."""
        now = utcnow()
        # A read first: an idle node (the usual case) takes no write transaction.
        async with self.store._read() as conn:
            due_any = await conn.execute(
                sa.select(outbox.c.id)
                .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
                .limit(1)
            )
            if due_any.first() is None:
                return []
        earlier = outbox.alias("earlier")
        due = (
            sa.select(*_CLAIM)
            .where(
                outbox.c.status == "pending",
                outbox.c.next_attempt_at <= now,
                sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
                ~sa.exists().where(
                    earlier.c.webhook_id == outbox.c.webhook_id,
                    earlier.c.order_key == outbox.c.order_key,
                    earlier.c.status == "pending",
                    earlier.c.id < outbox.c.id,
                ),
            )
            .order_by(outbox.c.id)
            .limit(limit)
        )
        if not self.store.is_sqlite:
            due = due.with_for_update(skip_locked=True, of=outbox)
        taken: list[Message] = []
        async with self.store._write() as conn:
            for row in (await conn.execute(due)).all():
                # Conditional, so of two nodes racing for a row (SQLite) one wins.
                won = await conn.execute(
                    sa.update(outbox)
                    .where(
                        outbox.c.id == row.id,
                        outbox.c.status == "pending",
                        sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
                    )
                    .values(lease_until=now + lease)
                )
                if won.rowcount:
                    taken.append(Message(**row._mapping))
        return taken

    async def delivered(self, message: Message, status: int) -> None:
        async with self.store._write() as conn:
            await conn.execute(
                sa.update(outbox)
                .where(outbox.c.id == message.id)
                .values(
                    status="delivered",
                    attempts=message.attempts + 1,
                    last_status=status,
                    last_error=None,
                    lease_until=None,
                    done_at=utcnow(),
                )
            )

    async def retry(
        self, message: Message, status: int | None, error: str, at: datetime | None
    ) -> None:
        """A failed attempt: again at ``at``, or never (None: given up, "failed")."""
        values: dict[str, Any] = {
            "attempts": message.attempts + 1,
            "last_status": status,
            "last_error": error[:500],
            "lease_until": None,
        }
        if at is None:
            values.update(status="failed", done_at=utcnow())
        else:
            values["next_attempt_at"] = at
        async with self.store._write() as conn:
            await conn.execute(sa.update(outbox).where(outbox.c.id == message.id).values(values))
