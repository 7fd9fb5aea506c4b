"""Reactions over HTTP: ``PUT``/``DELETE …/comments/{id}/reaction`` (docs/api.md,
"Reactions"): a reader likes a comment, or stops liking it; idempotent per reader."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from comments.store.reactions import ReactionStore
from comments.web.common import (
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
    # The order of checks of a post: the address's limit first, then the rest.
    await read_body(request)
    svc = node_of(request)
    site = await find_site(request)
    if site is not None:
        await svc.posting.limit_address(site, client_ip(request))
    if site is None:
        raise unknown_site(request)
    check_write(request, site)
    article = article_of(request)
    author = await known_author(request, site)
    if author is None:
        raise ApiError(401, "unauthenticated", "send the guest token or sign-in token")
    found = ReactionStore(svc.store)
    if await found.banned(author.id):
        raise ApiError(403, "banned", "this reader is banned from this site")
    done = await found.react(
        site.slug, article, request.path_params["id"], author.id, request.method == "PUT"
    )
    if done is None:
        raise ApiError(404, "not_found", "no such published comment")
    if done.version is not None:  # counted: open pages get the count, coalesced
        svc.hub.publish_like(
            site.slug, article, request.path_params["id"], done.reactions, done.version
        )
    return JSONResponse({"reactions": done.reactions, "reacted": done.reacted})


routes = [Route(ARTICLE + "/comments/{id}/reaction", reaction, methods=["PUT", "DELETE"])]
