"""Moderator search: ``GET /api/v1/moderation/sites/{site}/comments`` (docs/api.md,
"Search and takedown")."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from comments.models import Status
from comments.moderation.console import search_comments
from comments.store.search import SEARCH_PAGE_MAX, Search, decode_cursor
from comments.web.common import node_of, storable
from comments.web.errors import ApiError
from comments.web.mod_queue import page_limit
from comments.web.moderation import moderator_of, site_for

SEARCH_PAGE_DEFAULT = 50
Q_MAX = 200
STATUSES = ("published", "held", "rejected", "deleted", "shadowed")


def _text(request: Request, name: str, most: int) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if len(value) > most or not storable(value):
        raise ApiError(422, "invalid_parameter", f"{name} is at most {most} characters")
    return value


def _time(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "invalid_parameter", f"{name} is an ISO 8601 timestamp") from None
    if at.tzinfo is None:
        raise ApiError(422, "invalid_parameter", f"{name} needs a time zone (e.g. Z)")
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise ApiError(422, "invalid_parameter", f"{name} is out of range") from None


def search_params(request: Request) -> Search:
    status = request.query_params.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(422, "invalid_parameter", f"status is one of {', '.join(STATUSES)}")
    return Search(
        q=_text(request, "q", Q_MAX),
        author=_text(request, "author", 200),
        article=_text(request, "article", 200),
        status=None if status is None else Status(status),
        since=_time(request, "since"),
        until=_time(request, "until"),
    )


async def get_comments(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    site = await site_for(request, moderator)
    query = search_params(request)
    limit = page_limit(request, SEARCH_PAGE_DEFAULT, SEARCH_PAGE_MAX)
    raw = request.query_params.get("cursor")
    cursor = None
    if raw:
        cursor = decode_cursor(raw)
        if cursor is None:
            raise ApiError(422, "invalid_parameter", "cursor is not one this server gave")
    found = await search_comments(
        node_of(request).reviewing, site.slug, query, limit=limit, cursor=cursor
    )
    return JSONResponse(found)


routes = [Route("/api/v1/moderation/sites/{site}/comments", get_comments, methods=["GET"])]
