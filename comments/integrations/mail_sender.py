"""The reply-mail loop every node runs (when COMMENTS_SMTP_URL is set): recipients whose
first pending reply is due are claimed under a lease, their replies leave as one mail
(a digest when several), at most ``per_hour`` mails per recipient an hour; a refusal or
an unreachable server keeps the rows for a retry with backoff (given up after 24 h)."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import aiosmtplib

from comments.integrations.mail import (
    Reply,
    SmtpConfig,
    reply_message,
    send,
    unsubscribe_token,
)
from comments.models import utcnow
from comments.settings import Settings
from comments.store.mail import Batch, MailStore, QueuedReply, published

log = logging.getLogger("comments.mail")


@dataclass(frozen=True)
class MailPolicy:
    smtp: SmtpConfig
    sender: str
    base_url: str  # this server's public URL: unsubscribe and fallback permalinks
    per_hour: int = 10
    backoff_base_s: float = 60.0
    backoff_max_s: float = 3600.0
    give_up_after_s: float = 24 * 3600.0
    poll_s: float = 1.0
    batch: int = 32
    lease_s: float = 120.0


def unsubscribe_url(base_url: str, secret: bytes, site: str, author_id: str) -> str:
    token = unsubscribe_token(secret, site, author_id)
    return f"{base_url}/api/v1/mail/unsubscribe?token={quote(token, safe='')}"


class MailSender:
    def __init__(
        self,
        mail: MailStore,
        policy: MailPolicy,
        secret: bytes,
        *,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.mail = mail
        self.policy = policy
        self.secret = secret
        self.tls_context = tls_context

    async def run_forever(self) -> None:
        while True:
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("reply mail pass failed; retrying")
                sent = 0
            if not sent:
                await asyncio.sleep(self.policy.poll_s)

    async def run_once(self) -> int:
        """One pass over the due recipients; how many mails were sent."""
        now = utcnow()
        sent = 0
        for site, author_id in await self.mail.due(now, self.policy.batch):
            recent = await self.mail.sent_since(site, author_id, now - timedelta(hours=1))
            if len(recent) >= self.policy.per_hour:
                # Wait until the oldest of the hour's mails is an hour old.
                await self.mail.postpone(site, author_id, _aware(recent[0]) + timedelta(hours=1))
                continue
            batch = await self.mail.claim(site, author_id, timedelta(seconds=self.policy.lease_s))
            if batch is not None and await self._send(batch):
                sent += 1
        return sent

    async def _send(self, batch: Batch) -> bool:
        live = [r for r in batch.replies if published(r)]
        gone = [r.id for r in batch.replies if not published(r)]
        if batch.email is None:  # unsubscribed since: nothing leaves
            await self.mail.finish([r.id for r in batch.replies], "dropped")
            return False
        await self.mail.finish(gone, "dropped")  # withdrawn or removed since
        if not live:
            return False
        ids = [r.id for r in live]
        title = live[0].title or live[0].article
        message = reply_message(
            sender=self.policy.sender,
            to=batch.email,
            article_title=title,
            replies=[Reply(r.author_name, r.body, self._permalink(batch.site, r)) for r in live],
            unsubscribe_url=unsubscribe_url(
                self.policy.base_url, self.secret, batch.site, batch.author_id
            ),
        )
        try:
            await send(self.policy.smtp, message, tls_context=self.tls_context)
        except (aiosmtplib.SMTPException, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            at = self._next_attempt(batch.attempts + 1, batch.first_at)
            if at is None:
                log.warning("reply mail to %s/%s given up: %s", batch.site, batch.author_id, error)
                await self.mail.finish(ids, "failed", error)
            else:
                log.info("reply mail refused (%s); next try %s", error, at)
                await self.mail.retry(ids, error, at)
            return False
        await self.mail.finish(ids, "sent")
        return True

    def _permalink(self, site: str, reply: QueuedReply) -> str:
        if reply.url:
            return f"{reply.url}#comment-{reply.comment_id}"
        article = quote(reply.article, safe="")
        return (
            f"{self.policy.base_url}/api/v1/sites/{quote(site, safe='')}/articles/"
            f"{article}/comments/{reply.comment_id}/context"
        )

    def _next_attempt(self, attempts: int, first: datetime) -> datetime | None:
        delay = min(self.policy.backoff_max_s, self.policy.backoff_base_s * 2 ** (attempts - 1))
        at = utcnow() + timedelta(seconds=delay * random.uniform(0.5, 1.0))
        if at - _aware(first) > timedelta(seconds=self.policy.give_up_after_s):
            return None
        return at


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def mail_policy(settings: Settings) -> MailPolicy | None:
    """None when COMMENTS_SMTP_URL is not set: reply e-mails are off."""
    if settings.smtp_url is None:
        return None
    base = settings.own_origins[0] if settings.own_origins else "http://localhost"
    return MailPolicy(
        smtp=SmtpConfig.parse(settings.smtp_url),
        sender=settings.mail_from,
        base_url=base,
        per_hour=settings.mail_per_hour,
        backoff_base_s=settings.mail_backoff_s,
    )
