"""A site's settings for its admins: ``GET``/``PATCH
/api/v1/moderation/sites/{site}/settings`` (docs/api.md, "Site settings")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from comments.moderation import site_settings
from comments.sites import SiteSettingError
from comments.web.common import node_of, parse_json_object, read_body
from comments.web.errors import ApiError
from comments.web.mod_access import require_admin
from comments.web.moderation import moderator_of, site_for


async def settings(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    site = await site_for(request, moderator)
    require_admin(moderator)
    node = node_of(request)
    if request.method == "GET":
        stored = await node.store.get_site(site.slug)
        if stored is None:  # deleted meanwhile
            raise ApiError(404, "unknown_site", f"no site {site.slug!r}")
        return JSONResponse({"site": site.slug, "settings": site_settings.shown(stored)})
    data = parse_json_object(await read_body(request))
    try:
        now = await site_settings.change(node.store, node.review, site.slug, moderator.name, data)
    except SiteSettingError as exc:
        raise ApiError(422, "invalid_setting", str(exc)) from None
    except KeyError:
        raise ApiError(404, "unknown_site", f"no site {site.slug!r}") from None
    node.sites.forget(site.slug)  # this node at once; others within the cache's ttl
    return JSONResponse({"site": site.slug, "settings": now})


routes = [
    Route("/api/v1/moderation/sites/{site}/settings", settings, methods=["GET", "PATCH"]),
]
