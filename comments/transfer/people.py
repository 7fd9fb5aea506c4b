"""``comments author export SITE AUTHOR_ID``: what the database holds about a person,
as JSON (docs/api.md, "Personal data")."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from comments.settings import Settings
from comments.store import create_store
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
