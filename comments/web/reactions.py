"""Reactions over HTTP: ``PUT``/``DELETE …/comments/{id}/reaction`` (docs/api.md,
"Reactions"): a reader likes a comment, or stops liking it; idempotent per reader."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from comments.web.common import (
    GUEST_HEADER,
    article_of,
    client_ip,
    find_site,
    known_author,
    node_of,
    read_body,
    unknown_site,
)
from comments.web.errors import ApiError
from comments.web.public import ARTICLE
from comments.web.writes import check_write


async def reaction(request: Request) -> JSONResponse:
    # A post's order of checks: the address's (like) limit first, then the rest.
    await read_body(request)
    svc = node_of(request)
    site = await find_site(request)
    if site is not None:
        await svc.liking.limit_address(site, client_ip(request))
    if site is None:
        raise unknown_site(request)
    check_write(request, site)
    article = article_of(request)
    comment_id, like = request.path_params["id"], request.method == "PUT"
    guest = request.headers.get(GUEST_HEADER)
    if guest and not request.headers.get("authorization"):
        # The guest is looked up in the like's batch, not here: one query for a batch.
        if not site.guests:
            raise ApiError(401, "guests_disabled", "this site does not allow guest comments")
        done = await svc.liking.react_as_guest(site, article, comment_id, guest, like)
        return JSONResponse({"reactions": done.reactions, "reacted": done.reacted})
    author = await known_author(request, site)
    if author is None:
        raise ApiError(401, "unauthenticated", "send the guest token or sign-in token")
    done = await svc.liking.react(site, article, comment_id, author, like)
    return JSONResponse({"reactions": done.reactions, "reacted": done.reacted})


routes = [Route(ARTICLE + "/comments/{id}/reaction", reaction, methods=["PUT", "DELETE"])]
