"""Reader reports: ``POST …/comments/{id}/report`` (docs/api.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from comments.web.common import (
    article_of,
    client_ip,
    known_author,
    node_of,
    parse_json_object,
    read_body,
    site_of,
    storable,
)
from comments.web.errors import ApiError
from comments.web.writes import check_write

REASON_MAX = 500


async def report(request: Request) -> JSONResponse:
    raw = await read_body(request)
    site = await site_of(request)
    check_write(request, site)
    data = parse_json_object(raw) if raw.strip() else {}
    article = article_of(request)
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > REASON_MAX or not storable(reason):
        raise ApiError(
            422, "invalid_body", f"reason is a string of at most {REASON_MAX} characters"
        )
    reporting = node_of(request).reporting
    comment = await reporting.reportable(site, article, request.path_params["id"])
    author = await known_author(request, site)
    await reporting.report(site, comment, author, client_ip(request), reason)
    return JSONResponse({"reported": True}, status_code=202)


routes = [
    Route(
        "/api/v1/sites/{site}/articles/{article:path}/comments/{id}/report",
        report,
        methods=["POST"],
    )
]
