"""``order=top`` on the thread endpoint (docs/api.md): most liked first, then newest, by
keyset on ``(reactions, seq)`` with a ``cursor`` of the form ``"{reactions}.{seq}"``.
Never from the read cache: likes reorder it between events."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse

from comments.models import SEQ_MAX
from comments.sites import Site
from comments.store.reactions import ReactionStore
from comments.web.common import VARY_IDENTITY, node_of, viewer_of
from comments.web.errors import ApiError
from comments.web.permalinks import with_tombstones
from comments.web.reader_likes import mark_liked

_CURSOR = re.compile(r"(\d{1,12})\.(\d{1,19})")


def top_cursor(request: Request) -> tuple[int, int] | None:
    raw = request.query_params.get("cursor")
    if raw is None:
        return None
    found = _CURSOR.fullmatch(raw)
    if found is None or int(found.group(2)) > SEQ_MAX:
        raise ApiError(422, "invalid_parameter", "cursor is a previous page's next")
    return int(found.group(1)), int(found.group(2))


async def top_page(request: Request, site: Site, article: str, limit: int) -> JSONResponse:
    cursor = top_cursor(request)
    page = await ReactionStore(node_of(request).store).top(site.slug, article, cursor, limit)
    shown = await with_tombstones(request, page.comments, newest=None)
    await mark_liked(request, await viewer_of(request, site), shown)
    headers = {"Vary": VARY_IDENTITY, "Cache-Control": "no-cache"}
    doc = {"comments": shown, "next": page.next, "latest_seq": page.latest_seq}
    return JSONResponse(doc, headers=headers)
