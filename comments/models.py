"""Domain objects and the wire form of comments and events (see docs/api.md)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

SITE_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
ARTICLE_MAX = 200
BODY_MAX = 5000
AUTHOR_NAME_MAX = 64
GUEST_PREFIX = "g_"
SEQ_MAX = 2**63 - 1  # seqs are 64-bit in the database; larger cursors cannot be bound


class Status(StrEnum):
    PENDING = "pending"  # stored, not yet decided: never shown to anyone
    PUBLISHED = "published"
    HELD = "held"
    REJECTED = "rejected"
    DELETED = "deleted"  # withdrawn by its author; listed nowhere
    # By a shadow-banned author: shown to that author alone, as published; in the
    # moderators' queue; never in an event, a count or another reader's page.
    SHADOWED = "shadowed"


class EventType(StrEnum):
    PUBLISHED = "comment.published"
    REMOVED = "comment.removed"
    # Stands, in replays and gap fills, where an event of a since removed comment was:
    # same seq (the stream stays contiguous), no body, no author.
    REDACTED = "comment.redacted"
    # A published comment's new text (its author edited it and it stayed clean): the
    # comment's earlier events are redacted when it is written, so the old text is
    # never served again.
    EDITED = "comment.edited"


# Events whose payload carries a comment's body and author: redacted when it leaves.
TEXT_EVENTS = (EventType.PUBLISHED, EventType.EDITED)


@dataclass(frozen=True)
class Author:
    id: str
    name: str

    @property
    def is_guest(self) -> bool:
        """Guest ids are issued by the server; SSO ids are ``site:sub`` (a slug has no "_")."""
        return self.id.startswith(GUEST_PREFIX)


@dataclass(frozen=True)
class Comment:
    id: str
    site: str
    article: str
    parent: str | None
    author: Author
    body: str
    status: Status
    seq: int | None
    created_at: datetime
    # When its author last changed its text; None for a comment never edited.
    edited_at: datetime | None = None
    # Readers' likes (docs/api.md, "Reactions").
    reactions: int = 0

    def to_json(self, *, as_author: bool = False) -> dict[str, Any]:
        """The wire form. ``as_author``: for the comment's own author, to whom a shadowed
        comment looks published (with the seq it would sit after); to anyone else it is
        held (moderators) or absent (readers: public paths never select it)."""
        # Deleted comments leave the public API as "rejected": docs/api.md fixes three
        # statuses and clients must not meet a fourth.
        status: Status = self.status
        seq = self.seq
        if status is Status.DELETED:
            status = Status.REJECTED
        elif status is Status.SHADOWED:
            status = Status.PUBLISHED if as_author else Status.HELD
            seq = self.seq if as_author else None
        out: dict[str, Any] = {
            "id": self.id,
            "site": self.site,
            "article": self.article,
            "parent": self.parent,
            "author": {"id": self.author.id, "name": self.author.name},
            "body": self.body,
            "status": str(status),
            "seq": seq,
            "created_at": format_time(self.created_at),
            "reactions": self.reactions,
        }
        if self.edited_at is not None:  # only on edited comments (docs/api.md)
            out["edited_at"] = format_time(self.edited_at)
        return out


def format_time(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow() -> datetime:
    return datetime.now(UTC)


def dumps(obj: Any) -> str:
    """Compact JSON, non-ASCII kept as is (smaller frames for non-English threads)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def comment_json(comment: Comment) -> str:
    """The comment's wire form, encoded: made once for a post and reused in its event
    (stored, brokered, framed) and in the HTTP answer (``published_event``)."""
    return dumps(comment.to_json())


def published_event(seq: int, comment: Comment, encoded: str | None = None) -> str:
    """``dumps({"type": …, "seq": seq, "comment": comment.to_json()})``, byte for byte,
    around ``encoded`` (the comment's ``comment_json``) when given."""
    inner = comment_json(comment) if encoded is None else encoded
    return f'{{"type":"{EventType.PUBLISHED}","seq":{seq},"comment":{inner}}}'


def edited_event(seq: int, comment: Comment) -> str:
    return dumps({"type": str(EventType.EDITED), "seq": seq, "comment": comment.to_json()})


def removed_event(seq: int, comment_id: str) -> str:
    return dumps({"type": str(EventType.REMOVED), "seq": seq, "id": comment_id})


def redacted_event(seq: int, comment_id: str) -> str:
    return dumps({"type": str(EventType.REDACTED), "seq": seq, "id": comment_id})


_REMOVED_PREFIX = f'{{"type":"{EventType.REMOVED}",'


def removed_id(payload: str) -> str | None:
    """The comment a ``comment.removed`` payload withdraws; None for any other event.

    A prefix test first: every event passing through a hub is checked, removals are rare.
    """
    if not payload.startswith(_REMOVED_PREFIX):
        return None
    try:
        comment_id = json.loads(payload).get("id")
    except (ValueError, AttributeError):
        return None
    return comment_id if isinstance(comment_id, str) else None


_EDITED_PREFIX = f'{{"type":"{EventType.EDITED}",'


def superseded_id(payload: str) -> str | None:
    """The comment whose earlier events this one supersedes (a removal or an edit: they
    lose their text); None for any other event. A prefix test first, as ``removed_id``."""
    found = removed_id(payload)
    if found is not None or not payload.startswith(_EDITED_PREFIX):
        return found
    try:
        comment = json.loads(payload).get("comment") or {}
        comment_id = comment.get("id")
    except (ValueError, AttributeError):
        return None
    return comment_id if isinstance(comment_id, str) else None


def carries_comment(payload: str, comment_id: str) -> bool:
    """Does this encoded event carry the comment (its body and author)?

    ``"comment":{"id":…`` with bare quotes can only be the event's own structure: quotes
    inside a body or a name are escaped (``\\"``) in the encoded text.
    """
    return f'"comment":{{"id":{dumps(comment_id)},' in payload


def reset_event(seq: int) -> str:
    return dumps({"type": "reset", "seq": seq})


def batch_frame(events: list[str]) -> str:
    """Several encoded events as one frame, built by joining the already-encoded parts."""
    return '{"type":"batch","events":[' + ",".join(events) + "]}"
