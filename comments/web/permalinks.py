"""Permalinks and tombstones over HTTP: ``GET …/comments/{id}/context``, and the
tombstones thread listings carry (docs/api.md, "Permalinks" and "Tombstones")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from comments.models import Comment, Status
from comments.web.common import VARY_IDENTITY, article_of, node_of, site_of, viewer_of
from comments.web.errors import ApiError
from comments.web.reader_likes import mark_liked

CONTEXT_DEFAULT = 20
CONTEXT_MAX = 100
ARTICLE = "/api/v1/sites/{site}/articles/{article:path}"


async def with_tombstones(
    request: Request, page: Sequence[Comment], *, newest: bool | None
) -> list[dict[str, Any]]:
    """A page's comments as its reader sees them, with a tombstone for each removed
    comment that published ones on the page answer: by seq in the page's order
    (``newest`` True or False), or, for an order not by seq (``None``: e.g. by
    reactions), each just before the first comment on the page that answers it."""
    shown = [c.to_json(as_author=True) for c in page]
    tombstones = await node_of(request).threads.tombstones(page)
    if not tombstones:
        return shown
    if newest is None:
        return _before_answers(shown, [t.to_json() for t in tombstones])
    by_seq = [(c.seq or 0, j) for c, j in zip(page, shown, strict=True)]
    by_seq += [(t.seq or 0, t.to_json()) for t in tombstones]
    # A tombstone sits where it was published: before its replies in either order.
    by_seq.sort(key=lambda pair: pair[0], reverse=newest)
    return [j for _, j in by_seq]


def _before_answers(
    shown: list[dict[str, Any]], tombstones: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each tombstone right before the first item that answers it (tombstones come
    nearest first, so a chain of them ends up oldest first, above its replies)."""
    out = list(shown)
    for tomb in tombstones:
        at = next((i for i, j in enumerate(out) if j.get("parent") == tomb["id"]), len(out))
        out.insert(at, tomb)
    return out


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return CONTEXT_DEFAULT
    if not raw.isascii() or not raw.isdigit():
        raise ApiError(422, "invalid_parameter", "limit must be a whole number")
    digits = raw.lstrip("0")
    if not digits:
        raise ApiError(422, "invalid_parameter", "limit must be at least 1")
    # Any larger number is capped, as documented; no need to parse a thousand digits.
    return CONTEXT_MAX if len(digits) > 9 else min(int(digits), CONTEXT_MAX)


async def context(request: Request) -> JSONResponse:
    site = await site_of(request)
    article = article_of(request)
    limit = _limit(request)
    node = node_of(request)
    viewer = await viewer_of(request, site)
    comment = await node.store.get_comment(request.path_params["id"])
    own_shadowed = (
        comment is not None
        and comment.status is Status.SHADOWED
        and viewer is not None
        and comment.author.id == viewer.id
    )
    if (
        comment is None
        or comment.site != site.slug
        or comment.article != article
        or comment.seq is None
        or not (comment.status is Status.PUBLISHED or own_shadowed)
    ):
        raise ApiError(404, "not_found", "no such published comment under this article")
    found = await node.threads.context(
        comment, limit=limit, viewer=None if viewer is None else viewer.id
    )
    # The viewer's own shadowed comments share a seq with a published one: not twice.
    before = [c for c in found.before if c.id != comment.id]
    after = [c for c in found.after if c.id != comment.id]
    # Tombstones of removed comments that these answer, each on its side of the comment.
    tombstones = await node.threads.tombstones([*before, comment, *after])
    shown_before = [(c.seq or 0, c.to_json(as_author=True)) for c in before]
    shown_after = [(c.seq or 0, c.to_json(as_author=True)) for c in after]
    for t in tombstones:
        (shown_before if (t.seq or 0) < comment.seq else shown_after).append(
            (t.seq or 0, t.to_json())
        )
    headers = {"Vary": VARY_IDENTITY}
    if viewer is not None:
        headers["Cache-Control"] = "private, no-cache"
    shown = comment.to_json(as_author=True)
    before_json = [j for _, j in sorted(shown_before, key=lambda pair: pair[0])]
    after_json = [j for _, j in sorted(shown_after, key=lambda pair: pair[0])]
    await mark_liked(request, viewer, [shown], before_json, after_json)
    return JSONResponse(
        {
            "comment": shown,
            "before": before_json,
            "after": after_json,
            "cursors": {"before": found.before_cursor, "after": found.after_cursor},
            "latest_seq": found.latest_seq,
        },
        headers=headers,
    )


routes = [Route(ARTICLE + "/comments/{id}/context", context, methods=["GET"])]
