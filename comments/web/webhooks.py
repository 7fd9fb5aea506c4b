"""A site's webhooks and their delivery log, for its moderators' console (docs/api.md,
"Webhooks"). Read only: webhooks are added, rotated and removed with the CLI, which
shows the secret; no secret ever crosses this API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from comments.store.webhooks import WebhookStore
from comments.web.common import node_of
from comments.web.errors import ApiError
from comments.web.moderation import moderator_of, site_for

LOG_MAX = 200


async def list_webhooks(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    site = await site_for(request, moderator)
    found = await WebhookStore(node_of(request).store).of_site(site.slug)
    return JSONResponse({"webhooks": [h.to_json() for h in found]})


async def deliveries(request: Request) -> JSONResponse:
    moderator = await moderator_of(request)
    site = await site_for(request, moderator)
    raw_id, raw_limit = request.path_params["id"], request.query_params.get("limit", "50")
    if not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 4) or not (
        1 <= int(raw_limit) <= LOG_MAX
    ):
        raise ApiError(422, "invalid_limit", f"limit must be 1 to {LOG_MAX}")
    hooks = WebhookStore(node_of(request).store)
    hook = next(
        (
            h
            for h in await hooks.of_site(site.slug)
            if raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 18 and h.id == int(raw_id)
        ),
        None,
    )
    if hook is None:
        raise ApiError(404, "unknown_webhook", f"no webhook {raw_id!r} on {site.slug!r}")
    return JSONResponse(
        {
            "webhook": hook.to_json(),
            # A scoped moderator sees the deliveries about their sections' articles.
            "deliveries": await hooks.log(hook.id, int(raw_limit), moderator.scopes),
        }
    )


routes = [
    Route("/api/v1/moderation/sites/{site}/webhooks", list_webhooks, methods=["GET"]),
    Route("/api/v1/moderation/sites/{site}/webhooks/{id}/deliveries", deliveries, methods=["GET"]),
]
