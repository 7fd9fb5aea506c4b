"""The delivery loop every node runs: claims due outbox rows, POSTs them signed, and
records the outcome; failures retried with exponential backoff and jitter until the
retry window (24 h by default) is over, then marked failed."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from comments.integrations.guarded_connect import GuardedTransport
from comments.integrations.webhooks import (
    Resolver,
    WebhookRefused,
    check_destination,
    resolve_host,
    sign_headers,
)
from comments.models import utcnow
from comments.settings import Settings
from comments.store.webhooks import Message, Webhook, WebhookStore

log = logging.getLogger("comments.webhooks")


@dataclass(frozen=True)
class DeliveryPolicy:
    allow_private: bool = False
    backoff_base_s: float = 5.0
    backoff_max_s: float = 3600.0
    give_up_after_s: float = 24 * 3600.0
    timeout_s: float = 5.0
    poll_s: float = 1.0
    batch: int = 32
    lease_s: float = 60.0


def next_attempt(policy: DeliveryPolicy, attempts: int, created: datetime) -> datetime | None:
    """When to try again after ``attempts`` failures: base·2^(n-1), capped, times a jitter
    in [0.5, 1]; None once past the retry window."""
    delay = min(policy.backoff_max_s, policy.backoff_base_s * 2 ** max(0, attempts - 1))
    at = utcnow() + timedelta(seconds=delay * random.uniform(0.5, 1.0))
    if created.tzinfo is None:
        from datetime import UTC

        created = created.replace(tzinfo=UTC)
    if at - created > timedelta(seconds=policy.give_up_after_s):
        return None
    return at


def webhook_client(
    policy: DeliveryPolicy, resolve: Resolver = resolve_host, verify: ssl.SSLContext | bool = True
) -> httpx.AsyncClient:
    """The client webhooks are sent with: its connections only to addresses vetted when
    connecting (guarded_connect), no redirects (a 3xx could point anywhere, past the
    check), no proxy or CA settings from the environment."""
    transport = GuardedTransport(allow_private=policy.allow_private, resolve=resolve, verify=verify)
    return httpx.AsyncClient(
        transport=transport, timeout=policy.timeout_s, follow_redirects=False, trust_env=False
    )


class Deliverer:
    def __init__(
        self, hooks: WebhookStore, policy: DeliveryPolicy, resolve: Resolver = resolve_host
    ) -> None:
        self.hooks = hooks
        self.policy = policy
        self.resolve = resolve  # the system's; tests simulate a rebinding DNS server
        self._client: httpx.AsyncClient | None = None

    async def run_forever(self) -> None:
        while True:
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("webhook delivery pass failed; retrying")
                sent = 0
            if not sent:
                await asyncio.sleep(self.policy.poll_s)

    async def run_once(self) -> int:
        """One pass: the due messages, delivered concurrently (each is the head of its
        webhook's article, so concurrency never reorders an article)."""
        messages = await self.hooks.claim(self.policy.batch, timedelta(seconds=self.policy.lease_s))
        if not messages:
            return 0
        found = await self.hooks.by_ids(sorted({m.webhook_id for m in messages}))
        await asyncio.gather(*(self._deliver(m, found.get(m.webhook_id)) for m in messages))
        return len(messages)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def _deliver(self, message: Message, hook: Webhook | None) -> None:
        if hook is None:  # removed meanwhile (its rows go with it)
            return
        status: int | None = None
        try:
            await send(self._http(), hook, message, self.policy, self.resolve)
        except WebhookHttpError as exc:
            status, error = exc.status, str(exc)
        except (httpx.HTTPError, WebhookRefused, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            await self.hooks.delivered(message, 200)
            return
        at = next_attempt(self.policy, message.attempts + 1, message.created_at)
        log.info("webhook %s %s failed (%s); next %s", hook.url, message.msg_id, error, at)
        await self.hooks.retry(message, status, error, at)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = webhook_client(self.policy, self.resolve)
        return self._client


class WebhookHttpError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


async def send(
    client: httpx.AsyncClient,
    hook: Webhook,
    message: Message,
    policy: DeliveryPolicy,
    resolve: Resolver = resolve_host,
) -> int:
    """POST one message; its status when 2xx, else WebhookHttpError. The pre-check gives
    a clear early refusal; ``client`` (webhook_client) checks again when connecting."""
    await check_destination(hook.url, allow_private=policy.allow_private, resolve=resolve)
    now = utcnow()
    headers = sign_headers(hook.signing_secrets(now), message.msg_id, now, message.payload)
    response = await client.post(hook.url, content=message.payload.encode(), headers=headers)
    if not 200 <= response.status_code < 300:
        raise WebhookHttpError(response.status_code)
    return response.status_code


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        allow_private=settings.webhook_allow_private,
        backoff_base_s=settings.webhook_backoff_s,
        give_up_after_s=settings.webhook_retry_s,
        timeout_s=settings.webhook_timeout_s,
    )
