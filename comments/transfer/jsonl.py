"""Our own export format: JSON Lines, one object per line.

The first line is ``{"type": "export", "format": "comments", "version": 1, "site": …,
"exported_at": …}``; then each article (``"type": "article"``) followed by its comments
(``"type": "comment"``). docs/api.md describes the fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

from comments.models import utcnow
from comments.transfer.records import ImportRefused, Post, Thread

SOURCE = "jsonl"
FORMAT = "comments"
VERSION = 1
STATUSES = ("published", "held", "rejected", "deleted")


def format_instant(at: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; microseconds kept when there are any, so a round
    trip gives back the same instant."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    at = at.astimezone(UTC)
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    if at.microsecond:
        text += f".{at.microsecond:06d}"
    return text + "Z"


def parse_instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def header(site: str) -> dict[str, Any]:
    return {
        "type": "export",
        "format": FORMAT,
        "version": VERSION,
        "site": site,
        "exported_at": format_instant(utcnow()),
    }


def article_line(site: str, article: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "article",
        "site": site,
        "article": article["key"],
        "title": article["title"],
        "url": article["url"],
        "closed": article["closed"],
        "premoderated": article["premoderated"],
    }


def comment_line(site: str, key: str, c: dict[str, Any]) -> dict[str, Any]:
    """A comment as exported. Deleted ones (withdrawn by their authors) keep only what
    holds the thread together: their id, parent, status and time, no text and no name."""
    status = "held" if c["status"] == "pending" else c["status"]
    deleted = status == "deleted"
    return {
        "type": "comment",
        "id": c["id"],
        "site": site,
        "article": key,
        "parent": c["parent"],
        "author": None if deleted else {"id": c["author_id"], "name": c["author_name"]},
        "body": None if deleted else c["body"],
        "status": status,
        "seq": c["seq"],
        "created_at": format_instant(c["created_at"]),
        "updated_at": format_instant(c["updated_at"]),
        "scores": {} if deleted else c["scores"],
        "reasons": [] if deleted else c["reasons"],
        "reports": c["reports"],
    }


def parse(source: IO[bytes]) -> Iterator[Thread | Post]:
    """Read an export back: articles become threads keyed by their id."""
    seen: set[str] = set()
    for number, raw in enumerate(source, 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            kind = line.get("type")
            if number == 1 and kind != "export":
                raise ImportRefused(
                    "not a `comments export` file: its first line is not the export header"
                )
            if kind == "export":
                if line.get("format") != FORMAT or line.get("version") != VERSION:
                    raise ImportRefused(
                        f"unsupported export format {line.get('format')!r} version "
                        f"{line.get('version')!r}"
                    )
            elif kind == "article":
                key = str(line["article"])
                seen.add(key)
                yield Thread(
                    source_id=key, link=line.get("url") or "", title=line.get("title"), own_id=key
                )
            elif kind == "comment":
                key = str(line["article"])
                if key not in seen:
                    seen.add(key)
                    yield Thread(source_id=key, own_id=key)
                yield _post(line, key)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ImportRefused(f"line {number}: not a valid export line ({exc})") from None


def _post(line: dict[str, Any], key: str) -> Post:
    status = str(line["status"])
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    author = line.get("author") or {}
    return Post(
        source_id=str(line["id"]),
        thread=key,
        parent=line.get("parent"),
        author_key=str(author.get("id") or ""),
        author_name=str(author.get("name") or ""),
        body=str(line.get("body") or ""),
        created_at=parse_instant(str(line["created_at"])),
        status=status,
        seq=line.get("seq"),
        scores=dict(line.get("scores") or {}),
        reasons=list(line.get("reasons") or []),
    )
