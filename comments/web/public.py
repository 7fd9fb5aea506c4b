"""Public HTTP API: read, post, delete, count (docs/api.md, "Reading and posting")."""

from __future__ import annotations

from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from comments.errors import Refused
from comments.models import (
    ARTICLE_MAX,
    AUTHOR_NAME_MAX,
    BODY_MAX,
    SEQ_MAX,
    Author,
    Status,
    dumps,
)
from comments.moderation.submit import Submission, check_content
from comments.store import StoreUnavailable
from comments.store.article_pages import keep_first
from comments.web.article_pages import first_post_page
from comments.web.cached_reads import cacheable, cached
from comments.web.common import (
    VARY_IDENTITY,
    article_of,
    client_ip,
    find_site,
    known_author,
    node_of,
    parse_json_object,
    read_body,
    site_of,
    storable,
    unknown_site,
    valid_article,
    viewer_of,
)
from comments.web.errors import ApiError
from comments.web.hygiene import clean_name, visible
from comments.web.permalinks import with_tombstones
from comments.web.reader_likes import mark_liked
from comments.web.top_order import top_page
from comments.web.writes import check_write

PAGE_DEFAULT = 50
PAGE_MAX = 100
COUNTS_MAX = 100
# Orders whose first page changes only with the article's seq (reactions do not move it).
CACHED_ORDERS = ("oldest", "newest")


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "invalid_parameter", f"{name} must be a whole number") from None
    if value < 0:
        raise ApiError(422, "invalid_parameter", f"{name} must not be negative")
    return value


def _cursor(request: Request, name: str) -> int | None:
    value = _int_param(request, name)
    if value is not None and value > SEQ_MAX:
        raise ApiError(422, "invalid_parameter", f"{name} must be at most {SEQ_MAX}")
    return value


async def list_comments(request: Request) -> Response:
    site = await site_of(request)
    article = article_of(request)
    order = request.query_params.get("order", "oldest")
    if order not in ("oldest", "newest", "top"):
        raise ApiError(422, "invalid_parameter", "order is 'oldest', 'newest' or 'top'")
    limit = _int_param(request, "limit")
    if limit is None:
        limit = PAGE_DEFAULT
    elif limit == 0:
        raise ApiError(422, "invalid_parameter", "limit must be at least 1")
    limit = min(limit, PAGE_MAX)
    if order == "top":  # by likes (comments.web.top_order): not cached
        return await top_page(request, site, article, limit)
    newest = order == "newest"
    cursor = _cursor(request, "before" if newest else "after")

    async def document(viewer: str | None) -> tuple[dict[str, object], dict[str, int]]:
        page = await node_of(request).store.list_published(
            site.slug, article, newest_first=newest, cursor=cursor, limit=limit, viewer=viewer
        )
        comments = await with_tombstones(request, page.comments, newest=newest)
        seq = page.latest_seq
        doc: dict[str, object] = {"comments": comments, "next": page.next, "latest_seq": seq}
        return doc, {article: page.latest_seq}

    # First pages of the orders that only change with the article's seq (web/cached_reads).
    if cursor is None and order in CACHED_ORDERS and cacheable(request):
        params = (order, limit)
        return await cached(request, site, "page", [article], params, lambda: document(None))
    viewer = await viewer_of(request, site)
    doc, _ = await document(None if viewer is None else viewer.id)
    await mark_liked(request, viewer, cast("list[dict[str, Any]]", doc["comments"]))
    return JSONResponse(doc, headers=_identity_headers(request))


def _identity_headers(request: Request) -> dict[str, str]:
    """A reader's own shadowed comments are in the answers to them: caches keep one
    answer per identity, and none shared for one that names a reader."""
    headers = {"Vary": VARY_IDENTITY}
    if request.headers.get("authorization") or request.headers.get("x-comments-guest"):
        headers["Cache-Control"] = "private, no-cache"
    return headers


def _text(data: dict[str, object], key: str, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ApiError(422, "invalid_body", f"{key} is required")
        return None
    if not isinstance(value, str):
        raise ApiError(422, "invalid_body", f"{key} must be a string")
    if not storable(value):
        raise ApiError(422, "invalid_body", f"{key} contains a NUL character or a lone surrogate")
    return value


async def post_comment(request: Request) -> Response:
    try:
        return await _post_comment(request)
    except (ApiError, Refused) as exc:  # refusals by code, for /metrics
        node_of(request).metrics.posts.inc(decision="refused", code=exc.code)
        raise
    except StoreUnavailable:
        node_of(request).metrics.posts.inc(decision="refused", code="unavailable")
        raise


async def _post_comment(request: Request) -> Response:
    # docs/api.md's order of checks.
    raw = await read_body(request)  # 413 first, whatever else is wrong
    svc = node_of(request)
    site = await find_site(request)
    if site is not None:  # the limit is the site's; an unknown site has none
        await svc.posting.limit_address(site, client_ip(request))
    if site is None:
        raise unknown_site(request)
    check_write(request, site)
    data = parse_json_object(raw)
    article = article_of(request)

    body = (_text(data, "body", required=True) or "").strip()
    # Zero-width spaces, BOMs and the like alone would show as an empty comment.
    if not visible(body):
        raise ApiError(422, "empty_body", "a comment needs some visible text")
    if len(body) > BODY_MAX:
        raise ApiError(422, "body_too_long", f"a comment has at most {BODY_MAX} characters")
    parent = _text(data, "parent", required=False)
    name = _text(data, "author_name", required=False)
    if name is not None:
        name = clean_name(name)  # direction controls would disguise it
        if not (1 <= len(name) <= AUTHOR_NAME_MAX and visible(name)):
            raise ApiError(
                422,
                "invalid_author_name",
                f"author_name has 1 to {AUTHOR_NAME_MAX} characters, some of them visible",
            )
    check_content(site, body)
    page = first_post_page(data, site)
    submission = Submission(
        site=site, article=article, body=body, parent=parent, client_ip=client_ip(request)
    )
    # The checks' reads on one connection, given back before the write.
    async with svc.store.reading():
        if parent is not None:
            # Its author may answer their own shadowed comment (it looks published to them).
            await svc.posting.check_parent(submission, await viewer_of(request, site))

        author = await known_author(request, site)
        if author is None:
            if not site.guests:
                raise ApiError(401, "unauthenticated", "sign in to comment")
            if name is None:
                raise ApiError(401, "unauthenticated", "guests give an author_name")
        elif name is not None and author.is_guest and name != author.name:
            author = Author(id=author.id, name=name)
        checked = await svc.posting.check(submission, author, name)
    result = await svc.posting.store_checked(checked)
    if page != (None, None) and result.comment.status is not Status.REJECTED:
        await keep_first(svc.store, site.slug, article, *page)
    status = 201 if result.comment.status in ("published", "shadowed") else 202
    if result.comment_json is not None:
        return Response(
            answer_json(result.comment_json, result.guest_token),
            status_code=status,
            media_type="application/json",
        )
    payload: dict[str, object] = {"comment": result.comment.to_json(as_author=True)}
    if result.guest_token is not None:
        payload["guest_token"] = result.guest_token
    return JSONResponse(payload, status_code=status)


def answer_json(comment_json: str, guest_token: str | None) -> bytes:
    """A post's answer around its comment as already encoded for its event: the bytes
    ``JSONResponse({"comment": …, "guest_token": …})`` renders."""
    token = "" if guest_token is None else f',"guest_token":{dumps(guest_token)}'
    return f'{{"comment":{comment_json}{token}}}'.encode()


async def delete_comment(request: Request) -> JSONResponse:
    site = await site_of(request)
    check_write(request, site)
    article = article_of(request)
    author = await known_author(request, site)
    if author is None:
        raise ApiError(401, "unauthenticated", "send the guest token or sign-in token")
    comment = await node_of(request).posting.delete_own(
        site, article, request.path_params["id"], author
    )
    return JSONResponse({"id": comment.id, "deleted": True})


async def counts(request: Request) -> Response:
    site = await site_of(request)
    keys = list(dict.fromkeys(request.query_params.getlist("article")))
    if len(keys) > COUNTS_MAX:
        raise ApiError(422, "too_many_articles", f"at most {COUNTS_MAX} articles per request")
    if not all(valid_article(k) for k in keys):
        raise ApiError(
            422,
            "invalid_article",
            f"an article id has 1 to {ARTICLE_MAX} characters, none of them NUL",
        )
    if cacheable(request):

        async def anonymous() -> tuple[dict[str, object], dict[str, int]]:
            return {"counts": await node_of(request).store.counts(site.slug, keys, None)}, {}

        return await cached(request, site, "counts", keys, (), anonymous)
    viewer = await viewer_of(request, site)
    found = await node_of(request).store.counts(
        site.slug, keys, None if viewer is None else viewer.id
    )
    return JSONResponse({"counts": found}, headers=_identity_headers(request))


async def thread(request: Request) -> Response:
    # One route for both methods, so that a 405 names both in its Allow header.
    return await (post_comment if request.method == "POST" else list_comments)(request)


ARTICLE = "/api/v1/sites/{site}/articles/{article:path}"
routes = [
    Route(ARTICLE + "/comments", thread, methods=["GET", "POST"]),
    # …/comments/{id} (DELETE and PATCH): comments.web.edits
    Route("/api/v1/sites/{site}/counts", counts, methods=["GET"]),
]
