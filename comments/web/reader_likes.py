"""Which comments of an answer the reader who asks likes: ``"reacted": true|false`` on
each comment of the thread, top and context answers to a request naming a reader
(docs/api.md, "Reactions"), so a reloaded page shows their Like buttons pressed.
Anonymous answers never carry it: they stay one shared, cacheable document."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.requests import Request

from comments.models import Author
from comments.store.reactions import ReactionStore
from comments.web.common import node_of


async def mark_liked(
    request: Request, viewer: Author | None, *groups: Iterable[dict[str, Any]]
) -> None:
    """Set ``reacted`` on the comments (not tombstones) of ``groups``, in place."""
    if viewer is None:
        return
    shown = [c for group in groups for c in group if not c.get("tombstone")]
    liked = await ReactionStore(node_of(request).store).liked_by(
        viewer.id, [c["id"] for c in shown]
    )
    for c in shown:
        c["reacted"] = c["id"] in liked
