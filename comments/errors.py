"""What use cases refuse with: a stable code and a message for the person refused.

Use cases (posting, moderating, scoring) know nothing of HTTP, so that the worker and
the command line run them without the web layer; ``comments.web.errors`` maps each code
to its HTTP status (docs/api.md's error codes are these codes).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from comments.models import Comment


class Code(StrEnum):
    """Every code a use case refuses with (``comments.web.errors`` maps each to HTTP)."""

    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    BANNED = "banned"
    CLOSED = "closed"
    CONFLICT = "conflict"
    DUPLICATE = "duplicate"
    UNKNOWN_PARENT = "unknown_parent"
    BANNED_WORD = "banned_word"
    RATE_LIMITED = "rate_limited"
    EDIT_WINDOW_CLOSED = "edit_window_closed"
    # A guest token looked up inside a use case (a like's batch) that names nobody.
    INVALID_GUEST_TOKEN = "invalid_guest_token"


class Refused(Exception):
    """A use case said no.

    Args:
        code: the error code clients see (``banned``, ``closed``, ``not_found``, …).
        message: a sentence for the person refused.
        retry_after_s: when trying again may succeed (rate limits).
        comment: the comment as it stands, when the refusal is about its state.
        extra: more top-level fields of the error body.
    """

    def __init__(
        self,
        code: Code,
        message: str,
        *,
        retry_after_s: float | None = None,
        comment: Comment | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s
        self.comment = comment
        # More fields of the error body (e.g. ``reopens_at`` of a quiet-hours refusal).
        self.extra = extra or {}


class Conflict(Refused):
    """The comment is not in the state the action needs; carries it as it stands."""

    def __init__(self, comment: Comment, message: str) -> None:
        super().__init__(Code.CONFLICT, message, comment=comment)


class ConfigurationError(Exception):
    """The installation or its configuration cannot work; said in one line, no traceback."""
