"""Personal data for a site's admins: ``GET …/authors/{author_id}/export`` and ``POST
…/authors/{author_id}/erase`` (docs/api.md, "Personal data")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from comments.errors import Code, Refused
from comments.models import Comment
from comments.moderation.erasure import erase_author
from comments.store import EventRow
from comments.store.personal import export_author
from comments.web.common import author_id_of, node_of, parse_json_object, read_body
from comments.web.mod_access import require_site_wide_admin
from comments.web.moderation import moderator_of, site_for


async def get_export(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    site = await site_for(request, moderator)
    require_site_wide_admin(moderator)
    data = await export_author(node_of(request).store, site.slug, author_id_of(request))
    if data is None:
        raise Refused(Code.NOT_FOUND, "no such author on this site")
    return JSONResponse(data)


async def post_erase(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)  # writes: check_write (JSON, own origins)
    site = await site_for(request, moderator)
    require_site_wide_admin(moderator)
    raw = await read_body(request)
    if raw.strip():
        parse_json_object(raw)  # no fields yet; still a JSON object or a 400
    node = node_of(request)

    async def announce(comment: Comment, event: EventRow | None) -> None:
        if event is not None:
            node.hub.publish(comment.site, comment.article, event)
        node.feed.publish(comment.site, {"type": "queue.removed", "id": comment.id})

    erased = await erase_author(
        node.store,
        node.review,
        site.slug,
        author_id_of(request),
        actor=moderator.name,
        announce=announce,
    )
    return JSONResponse({"erased": erased.to_json()})


# Before mod_console.last_routes (its catch-all ``authors/{author_id:path}``).
routes = [
    Route(
        "/api/v1/moderation/sites/{site}/authors/{author_id:path}/export",
        get_export,
        methods=["GET"],
    ),
    Route(
        "/api/v1/moderation/sites/{site}/authors/{author_id:path}/erase",
        post_erase,
        methods=["POST"],
    ),
]
