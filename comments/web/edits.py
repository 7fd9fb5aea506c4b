"""Edits over HTTP: ``PATCH …/comments/{id}`` by its author, and the earlier texts of a
comment for its site's moderators (docs/api.md, "Editing")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from comments.models import BODY_MAX, Status, format_time
from comments.web.common import (
    article_of,
    client_ip,
    find_site,
    known_author,
    node_of,
    parse_json_object,
    read_body,
    unknown_site,
)
from comments.web.errors import ApiError
from comments.web.hygiene import visible
from comments.web.moderation import moderator_of
from comments.web.public import ARTICLE, _text, delete_comment
from comments.web.writes import check_write


def edited_body(data: dict[str, object]) -> str:
    """The new text, checked as a new post's is (trimmed, visible, not too long)."""
    body = (_text(data, "body", required=True) or "").strip()
    if not visible(body):
        raise ApiError(422, "empty_body", "a comment needs some visible text")
    if len(body) > BODY_MAX:
        raise ApiError(422, "body_too_long", f"a comment has at most {BODY_MAX} characters")
    return body


async def edit_comment(request: Request) -> JSONResponse:
    # The order of checks of a post (docs/api.md), then the edit's own.
    raw = await read_body(request)
    svc = node_of(request)
    site = await find_site(request)
    if site is not None:
        await svc.posting.limit_address(site, client_ip(request))
    if site is None:
        raise unknown_site(request)
    check_write(request, site)
    data = parse_json_object(raw)
    article = article_of(request)
    body = edited_body(data)
    author = await known_author(request, site)
    if author is None:
        raise ApiError(401, "unauthenticated", "send the guest token or sign-in token")
    comment = await svc.editing.edit(site, article, request.path_params["id"], author, body)
    status = 200 if comment.status in (Status.PUBLISHED, Status.SHADOWED) else 202
    return JSONResponse({"comment": comment.to_json(as_author=True)}, status_code=status)


async def one_comment(request: Request) -> JSONResponse:
    # One route for both methods, so that a 405 names both in its Allow header.
    return await (edit_comment if request.method == "PATCH" else delete_comment)(request)


async def versions(request: Request) -> JSONResponse:
    """A comment's earlier texts, for a moderator of its site (401, 404, 403)."""
    moderator = await moderator_of(request)
    node = node_of(request)
    item = await node.reviewing.comment_for(moderator, request.path_params["id"])
    found = await node.editing.edits.versions(item.comment.id)
    return JSONResponse(
        {
            "comment": item.to_json(),
            "versions": [
                {
                    "body": v.body,
                    "written_at": format_time(v.written_at),
                    "replaced_at": format_time(v.replaced_at),
                }
                for v in found
            ],
        }
    )


routes = [
    Route(ARTICLE + "/comments/{id}", one_comment, methods=["DELETE", "PATCH"]),
    Route("/api/v1/moderation/comments/{id}/versions", versions, methods=["GET"]),
]
