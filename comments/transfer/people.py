"""``comments author export|erase SITE AUTHOR_ID``: what the database holds about a
person, as JSON, and erasing it (docs/api.md, "Personal data")."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import Any

from comments.models import Comment
from comments.settings import Settings
from comments.store import EventRow, create_store
from comments.store.personal import export_author


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    author: argparse.ArgumentParser = subparsers.add_parser(
        "author",
        help="personal data of one author (GDPR)",
        description="Access requests: what the database holds about one author.",
    )
    sub = author.add_subparsers(dest="author_command", required=True, metavar="ACTION")
    exp = sub.add_parser(
        "export",
        help="print everything held about an author as JSON",
        description="Everything the database holds about one author of a site: the author "
        "row, every comment with its status, scores, reasons and earlier versions, reports "
        "they made, ban networks and audit entries naming them. Tokens and network keys "
        "are never printed, only whether they exist.",
    )
    exp.add_argument("site", help="the site")
    exp.add_argument("author_id", help="the author id (guest:… or sso:…)")
    exp.add_argument("--output", default=None, help="write to this file instead")
    exp.set_defaults(func=cmd_author_export)
    erase = sub.add_parser(
        "erase",
        help="erase an author: withdraw their comments, remove their name and identity",
        description="Withdraw every comment of the author (published ones leave open pages "
        "live; one with published replies stays as a tombstone), overwrite their texts and "
        "name, delete earlier versions and network keys, anonymise reports they made and "
        "turn the author into an '[erased]' placeholder whose token no longer works. One "
        "'erase' audit entry by 'cli'. Running it again changes nothing more.",
    )
    erase.add_argument("site", help="the site")
    erase.add_argument("author_id", help="the author id (guest:… or sso:…)")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.set_defaults(func=cmd_author_erase)
    return author


def cmd_author_export(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> dict[str, Any] | None:
        store = create_store(settings.database_url)
        try:
            return await export_author(store, args.site, args.author_id)
        finally:
            await store.close()

    data = asyncio.run(run())
    if data is None:
        print(f"comments: no author {args.author_id!r} on site {args.site!r}", file=sys.stderr)
        return 2
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_author_erase(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            print("comments: erasing cannot be undone: pass --yes", file=sys.stderr)
            return 2
        answer = input(f"Erase {args.author_id!r} on {args.site!r}? This cannot be undone [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("comments: nothing erased", file=sys.stderr)
            return 1
    from comments.errors import Refused
    from comments.moderation.erasure import Erased, erase_author
    from comments.store.review import ReviewStore

    async def run() -> Erased | None:
        store = create_store(settings.database_url)
        broker = None
        try:
            announce = await _announcer(settings)
            broker = announce.broker
            try:
                return await erase_author(
                    store,
                    ReviewStore(store),
                    args.site,
                    args.author_id,
                    actor="cli",
                    announce=announce,
                )
            except Refused:
                return None
        finally:
            if broker is not None:
                await broker.disconnect()
            await store.close()

    erased = asyncio.run(run())
    if erased is None:
        print(f"comments: no author {args.author_id!r} on site {args.site!r}", file=sys.stderr)
        return 2
    for line in erased.lines():
        print(line)
    return 0


class _Announcer:
    """A CLI process has no hub: nodes hear of each ``comment.removed`` through the
    broker, as of any other node's (as ``comments import`` publishes). With the
    in-process broker there is no one to tell; open pages catch up on their node's
    periodic check against the database."""

    def __init__(self, settings: Settings, broker: Any) -> None:
        self.settings = settings
        self.broker = broker

    async def __call__(self, comment: Comment, event: EventRow | None) -> None:
        if event is None or self.broker is None:
            return
        from comments.infra.broker import BrokerUnavailable
        from comments.live.hub import article_channel, event_message

        channel = article_channel(self.settings.channel_prefix, comment.site, comment.article)
        with contextlib.suppress(BrokerUnavailable):
            await self.broker.publish(channel, event_message(event))


async def _announcer(settings: Settings) -> _Announcer:
    if settings.broker_url.startswith("memory:"):
        return _Announcer(settings, None)
    from comments.infra.broker import create_broker

    broker = create_broker(settings.broker_url)
    await broker.connect()
    return _Announcer(settings, broker)
