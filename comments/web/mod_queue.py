"""Query parameters of the moderation queue (docs/api.md, "Moderation queue")."""

from __future__ import annotations

from starlette.requests import Request

from comments.store.queue import FILTERS, decode_cursor
from comments.web.errors import ApiError

QUEUE_PAGE_DEFAULT = 500  # what the console read before pages existed
QUEUE_PAGE_MAX = 500


def page_limit(request: Request, default: int, most: int) -> int:
    raw = request.query_params.get("limit")
    if not raw:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(422, "invalid_parameter", "limit is a whole number") from None
    if limit < 1:
        raise ApiError(422, "invalid_parameter", "limit must be at least 1")
    return min(limit, most)


def queue_params(request: Request) -> tuple[int, tuple[float, str] | None, str]:
    """limit, cursor (from a previous page's ``next``) and filter.

    Raises:
        ApiError: 422 ``invalid_parameter``.
    """
    limit = page_limit(request, QUEUE_PAGE_DEFAULT, QUEUE_PAGE_MAX)
    raw = request.query_params.get("cursor")
    cursor = None
    if raw:
        cursor = decode_cursor(raw)
        if cursor is None:
            raise ApiError(422, "invalid_parameter", "cursor is not one this server gave")
    only = request.query_params.get("filter") or "all"
    if only not in FILTERS:
        raise ApiError(422, "invalid_parameter", f"filter is one of {', '.join(FILTERS)}")
    return limit, cursor, only
