"""What a parser yields: threads and posts as the source describes them, not yet ours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Skip(StrEnum):
    """Why a post was not imported (the report counts each)."""

    NO_ID = "no id"
    SPAM = "spam"
    DELETED = "deleted"
    PINGBACK = "pingback"
    TRACKBACK = "trackback"
    THREAD_MISSING = "thread missing"
    NO_ARTICLE = "no article id"
    EMPTY = "empty body"
    NO_DATE = "no date"
    DUPLICATE = "duplicate id in file"
    ALREADY_IMPORTED = "already imported"


@dataclass(slots=True)
class Thread:
    source_id: str
    link: str = ""
    title: str | None = None
    own_id: str = ""  # the partner's identifier where the source keeps one


@dataclass(slots=True)
class Post:
    source_id: str
    thread: str  # Thread.source_id
    parent: str | None
    author_key: str  # stable per person in the source (a user id, or a name and e-mail)
    author_name: str
    body: str
    created_at: datetime | None
    # published, held, rejected or deleted: what it becomes here (before --moderate).
    status: str
    skip: Skip | None = None
    # From our own export: the order of publication, and moderation data.
    seq: int | None = None
    scores: dict[str, float] | None = None
    reasons: list[str] | None = None
    # Where the body waits on disk once the importer has read it (comments.transfer.spool);
    # ``body`` is then "".
    spooled: tuple[int, int] | None = None


class ImportRefused(Exception):
    """The file cannot be imported at all (unsafe XML, not the expected format)."""
