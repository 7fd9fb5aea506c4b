"""Console reads: a comment's context, an author's record and notes (docs/api.md,
"Comment context", "Authors")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from comments.moderation.console import NOTE_MAX, add_note, author_view, comment_context
from comments.web.common import author_id_of, node_of, parse_json_object, read_body, storable
from comments.web.errors import ApiError
from comments.web.moderation import moderator_of, site_for


async def get_context(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    found = await comment_context(node_of(request).reviewing, moderator, request.path_params["id"])
    return JSONResponse(found)


async def get_author(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    site = await site_for(request, moderator)
    record = await author_view(
        node_of(request).reviewing, site.slug, author_id_of(request), moderator.scopes
    )
    return JSONResponse({"author": record})


async def post_note(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    site = await site_for(request, moderator)
    data = parse_json_object(await read_body(request))
    body = data.get("body")
    if not isinstance(body, str) or not body.strip() or len(body) > NOTE_MAX or not storable(body):
        raise ApiError(422, "invalid_body", f"body is a note of 1 to {NOTE_MAX:,} characters")
    record = await add_note(
        node_of(request).reviewing,
        moderator,
        site.slug,
        author_id_of(request),
        body.strip(),
    )
    return JSONResponse({"author": record}, status_code=201)


routes = [
    Route("/api/v1/moderation/comments/{id}/context", get_context, methods=["GET"]),
    Route(
        "/api/v1/moderation/sites/{site}/authors/{author_id:path}/notes",
        post_note,
        methods=["POST"],
    ),
]
# After every other …/authors/{author_id}/… route (the id may hold slashes).
last_routes = [
    Route("/api/v1/moderation/sites/{site}/authors/{author_id:path}", get_author, methods=["GET"]),
]
