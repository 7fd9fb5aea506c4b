"""Live like counts (docs/api.md, "Reactions"): ``comment.reactions`` frames, outside the
seq stream, coalesced per node to at most one per comment per ``interval_s``.

A like is published on its article's broker channel as ``r\\n{"id", "reactions", "v"}``
(``v``: the article's reaction version, bumped in the like's transaction); every node's
hub keeps per channel the count of the highest version seen for each comment, and sends
what changed at most once per interval: the first like of a quiet spell at once, a
burst as its latest count. Versions make the order of arrival irrelevant (a node's own
like and its broker echo, two nodes' likes crossing), so an unlike is never overtaken
by an older like. Not replayed: a reconnecting client has the counts from its page.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

# The broker message's first line: not a seq, so the hub tells it from events.
LIKES_HEAD = b"r"
INTERVAL_S = 1.0


def like_message(comment_id: str, reactions: int, version: int) -> bytes:
    body = json.dumps({"id": comment_id, "reactions": reactions, "v": version})
    return LIKES_HEAD + b"\n" + body.encode()


def parse_like(body: bytes) -> tuple[str, int, int] | None:
    """``(comment_id, reactions, version)`` of a broker message's body, or None."""
    try:
        data = json.loads(body)
        cid, count, version = data["id"], data["reactions"], data["v"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(cid, str) or not isinstance(count, int) or not isinstance(version, int):
        return None
    return cid, count, version


def like_frame(comment_id: str, reactions: int) -> str:
    return json.dumps(
        {"type": "comment.reactions", "id": comment_id, "reactions": reactions},
        separators=(",", ":"),
    )


@dataclass
class LikeCounts:
    """One channel's counts waiting to be sent, and the versions already taken."""

    interval_s: float = INTERVAL_S
    pending: dict[str, int] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    scheduled: bool = False
    last_flush: float = float("-inf")

    def offer(self, comment_id: str, reactions: int, version: int) -> float | None:
        """Note a count; the delay before the next flush when one must be scheduled now."""
        if version <= self.seen.get(comment_id, 0):
            return None  # older than, or the echo of, what this node has
        self.seen[comment_id] = version
        self.pending[comment_id] = reactions
        if self.scheduled:
            return None
        self.scheduled = True
        return max(0.0, self.last_flush + self.interval_s - time.monotonic())

    def take(self) -> list[str]:
        """The frames to send now (one per changed comment), and the interval restarts."""
        self.scheduled = False
        self.last_flush = time.monotonic()
        pending, self.pending = self.pending, {}
        return [like_frame(cid, n) for cid, n in pending.items()]
