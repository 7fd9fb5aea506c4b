"""Reader reports: ``POST …/comments/{id}/report`` (docs/api.md)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from comments.infra.ratelimit import retry_after
from comments.models import Status
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

REASON_MAX = 500
# Reports a minute from one address, and from one reader (guest or signed in).
PER_MINUTE = 30


async def report(request: Request) -> JSONResponse:
    raw = await read_body(request)
    site = await site_of(request)
    data = parse_json_object(raw) if raw.strip() else {}
    article = article_of(request)
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > REASON_MAX or not storable(reason):
        raise ApiError(
            422, "invalid_body", f"reason is a string of at most {REASON_MAX} characters"
        )
    svc = node_of(request)
    comment = await svc.store.get_comment(request.path_params["id"])
    if (
        comment is None
        or comment.site != site.slug
        or comment.article != article
        or comment.status is not Status.PUBLISHED
    ):
        raise ApiError(404, "not_found", "no such published comment under this article")
    author = await known_author(request, site)
    # One report per reader: a signed-in or guest reader by id, anyone else by address.
    reporter = author.id if author is not None else f"ip:{client_ip(request)}"
    # Per address, and per reader too: one reader may report from many addresses.
    checks = {"report": svc.limiter.hit(f"report:{site.slug}:{client_ip(request)}", PER_MINUTE)}
    if author is not None:
        checks["report_author"] = svc.limiter.hit(f"report-author:{author.id}", PER_MINUTE)
    limits = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    for limit, hit in limits.items():
        if hit is not None:
            svc.metrics.rate_limited.inc(limit=limit)
    wait = max((w for w in limits.values() if w is not None), default=None)
    if wait is not None:
        raise ApiError(
            429,
            "rate_limited",
            "too many reports; try again shortly",
            headers={"Retry-After": retry_after(wait)},
        )
    count = await svc.review.add_report(comment.id, reporter.strip(), reason.strip())
    threshold = int(site.settings["reports_before_review"])
    if threshold > 0 and count == threshold:
        # Just crossed the line: the comment enters the queue, still visible meanwhile.
        item = await svc.review.item(comment.id)
        if item is not None:
            svc.feed.publish(site.slug, {"type": "queue.added", "item": item.to_json()})
    return JSONResponse({"reported": True}, status_code=202)


routes = [
    Route(
        "/api/v1/sites/{site}/articles/{article:path}/comments/{id}/report",
        report,
        methods=["POST"],
    )
]
