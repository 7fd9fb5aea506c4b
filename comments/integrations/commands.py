"""``comments webhook add|list|remove|test|rotate|log``: a site's webhooks from the shell."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

import httpx

from comments.integrations.delivery import (
    WebhookHttpError,
    delivery_policy,
    send,
    webhook_client,
)
from comments.integrations.webhooks import WebhookRefused, check_destination, check_events
from comments.models import dumps, format_time, utcnow
from comments.settings import Settings
from comments.store import Store
from comments.store.outbox import EVENTS
from comments.store.webhooks import Message, WebhookStore

WithStore = Callable[[Settings, Callable[[Store], Awaitable[int]]], Coroutine[Any, Any, int]]


def add_parser(subparsers: Any, with_store: WithStore) -> None:
    """Register ``webhook`` on the ``comments`` command's sub-parsers."""
    hook = subparsers.add_parser(
        "webhook",
        help="manage a site's webhooks",
        description="Webhooks: signed POSTs (Standard Webhooks) of a site's events.",
    )
    sub = hook.add_subparsers(dest="webhook_command", required=True, metavar="ACTION")
    add = sub.add_parser(
        "add",
        help="add a webhook (prints its secret)",
        description="Add a webhook to SITE (or change the events of one already there) "
        "and print it with its signing secret. Private and loopback addresses are refused "
        "unless COMMENTS_WEBHOOK_ALLOW_PRIVATE=1.",
    )
    _site_url(add)
    add.add_argument(
        "--event",
        action="append",
        default=[],
        choices=EVENTS,
        help="an event to receive (repeatable; default: every event)",
    )
    listing = sub.add_parser(
        "list", help="list a site's webhooks", description="Print SITE's webhooks as JSON."
    )
    listing.add_argument("site", help="the site's slug")
    for name, text in (
        ("remove", "remove a webhook and its undelivered messages"),
        ("test", "send a signed webhook.test message now and show the answer"),
        ("rotate", "new secret; the old one keeps signing for --overlap-hours"),
        ("log", "the webhook's latest deliveries: status, attempts, last error"),
    ):
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        _site_url(p)
        if name == "rotate":
            p.add_argument(
                "--overlap-hours",
                type=float,
                default=24.0,
                help="how long the old secret signs too (default 24)",
            )
        if name == "log":
            p.add_argument(
                "--limit", type=int, default=50, help="how many, newest first (default 50)"
            )

    def run(args: argparse.Namespace, settings: Settings) -> int:
        async def action(store: Store) -> int:
            try:
                return await _run(args, settings, store)
            except WebhookRefused as exc:
                print(f"comments: {exc}", file=sys.stderr)
                return 2

        return asyncio.run(with_store(settings, action))

    hook.set_defaults(func=run)


def _site_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("site", help="the site's slug")
    parser.add_argument("url", help="the webhook's http(s) URL")


async def _run(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    if await store.get_site(args.site) is None:
        raise WebhookRefused(f"no site {args.site!r}")
    hooks = WebhookStore(store)
    command = args.webhook_command
    if command == "list":
        found = await hooks.of_site(args.site)
        print(json.dumps({"webhooks": [h.to_json() for h in found]}, indent=2))
        return 0
    if command == "add":
        events = check_events(args.event)
        await check_destination(args.url, allow_private=settings.webhook_allow_private)
        added = await hooks.add(args.site, args.url, events)
        print(json.dumps({**added.to_json(), "secret": added.secret}, indent=2))
        return 0
    if command == "rotate":
        rotated = await hooks.rotate(
            args.site, args.url, timedelta(hours=max(0.0, args.overlap_hours))
        )
        if rotated is None:
            raise WebhookRefused(f"no webhook {args.url!r} on {args.site!r}")
        print(json.dumps({**rotated.to_json(), "secret": rotated.secret}, indent=2))
        return 0
    if command == "remove":
        if not await hooks.remove(args.site, args.url):
            raise WebhookRefused(f"no webhook {args.url!r} on {args.site!r}")
        print(f"removed {args.url} from {args.site}")
        return 0
    hook = await hooks.get(args.site, args.url)
    if hook is None:
        raise WebhookRefused(f"no webhook {args.url!r} on {args.site!r}")
    if command == "log":
        print(json.dumps({"deliveries": await hooks.log(hook.id, args.limit)}, indent=2))
        return 0
    return await _test(hook, settings)


async def _test(hook: Any, settings: Settings) -> int:
    now = utcnow()
    payload = {"type": "webhook.test", "timestamp": format_time(now), "data": {"site": hook.site}}
    message = Message(0, hook.id, "webhook.test", f"msg_{uuid.uuid4().hex}", dumps(payload), 0, now)
    policy = delivery_policy(settings)
    async with webhook_client(policy) as client:
        try:
            status = await send(client, hook, message, policy)
        except WebhookHttpError as exc:
            print(f"comments: {hook.url} answered HTTP {exc.status}", file=sys.stderr)
            return 1
        except httpx.HTTPError as exc:
            print(f"comments: {hook.url}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    print(f"{hook.url} answered HTTP {status}")
    return 0
