"""What every endpoint needs: the node, the site, bounded JSON bodies, identity."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

from comments.models import ARTICLE_MAX, SITE_SLUG, Author
from comments.node import Node
from comments.sites import Site
from comments.web.auth import bearer, verify_sso
from comments.web.errors import ApiError

MAX_REQUEST_BYTES = 64 * 1024
AUTHOR_ID_MAX = 200  # the authors.id column
GUEST_HEADER = "x-comments-guest"


def node_of(request: Request) -> Node:
    svc: Node = request.state.node
    return svc


async def find_site(request: Request) -> Site | None:
    slug = request.path_params["site"]
    return await node_of(request).sites.get(slug) if SITE_SLUG.fullmatch(slug) else None


def unknown_site(request: Request) -> ApiError:
    return ApiError(404, "unknown_site", f"no site {request.path_params['site']!r}")


async def site_of(request: Request) -> Site:
    site = await find_site(request)
    if site is None:
        raise unknown_site(request)
    return site


def storable(text: str) -> bool:
    """Can both databases keep this string as is? PostgreSQL refuses NUL characters in
    text, and neither driver can encode a lone surrogate (which JSON's ``\\ud800``
    escapes produce); refused as bad input rather than failing at the write (503/500)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def valid_article(article: str) -> bool:
    return 1 <= len(article) <= ARTICLE_MAX and storable(article)


def article_of(request: Request) -> str:
    article: str = request.path_params["article"]
    if not valid_article(article):
        raise ApiError(
            422,
            "invalid_article",
            f"an article id has 1 to {ARTICLE_MAX} characters, none of them NUL",
        )
    return article


def author_id_of(request: Request) -> str:
    """The ``author_id`` path parameter. One no database can hold (a NUL, which
    PostgreSQL refuses in text: a 503 no retry cures) names no author: 404.

    Raises:
        ApiError: 404 ``not_found``.
    """
    author_id: str = request.path_params["author_id"]
    if not storable(author_id):
        raise ApiError(404, "not_found", "no such author on this site")
    return author_id


async def read_body(request: Request) -> bytes:
    """The request body, refusing (413) anything over 64 KB before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > MAX_REQUEST_BYTES
        except ValueError:
            raise ApiError(400, "bad_request", "Content-Length is not a number") from None
        if too_big:
            raise too_large()
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_REQUEST_BYTES:
                raise too_large()
            chunks.append(chunk)
    except ClientDisconnect:
        # Gone, or cut off for sending too slowly (server/http_protocol.py): nobody
        # reads this answer, but it is not a server error either.
        raise ApiError(408, "request_timeout", "the request body did not arrive") from None
    return b"".join(chunks)


def too_large() -> ApiError:
    return ApiError(413, "too_large", f"requests are limited to {MAX_REQUEST_BYTES} bytes")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "the body is not valid UTF-8") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc.msg}") from None
    except (ValueError, RecursionError):
        # A number literal over Python's digit limit, or nesting deeper than the parser's
        # recursion limit: both fit in 64 KB.
        raise ApiError(400, "invalid_json", "the body is not JSON this server accepts") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return value


async def known_author(request: Request, site: Site) -> Author | None:
    """The reader an SSO token or a guest token names; None when neither is sent. Nothing
    is written: a signed-in reader's author row is saved with their first comment.

    Raises:
        ApiError: 401 for a token that is sent but not valid.
    """
    token = bearer(request.headers.get("authorization"))
    svc = node_of(request)
    if token is not None:
        author = verify_sso(site, token, max_ttl_s=svc.settings.sso_max_ttl_s)
        if len(author.id) > AUTHOR_ID_MAX or not (storable(author.id) and storable(author.name)):
            # Refused here rather than failing at the write with a 503 no retry cures.
            raise ApiError(401, "invalid_token", "the sign-in token's sub or name is unusable")
        return author
    guest = request.headers.get(GUEST_HEADER)
    if guest:
        if not site.guests:
            raise ApiError(401, "guests_disabled", "this site does not allow guest comments")
        found = await svc.store.guest_by_token(site.slug, guest)
        if found is None:
            raise ApiError(401, "invalid_guest_token", "unknown guest token")
        return found
    return None


async def viewer_of(request: Request, site: Site) -> Author | None:
    """The reader a read request names (guest token or SSO token), to show them their own
    shadowed comments; None when none is sent, or one that is not valid: a read never
    fails for a stale identity."""
    if not (request.headers.get("authorization") or request.headers.get(GUEST_HEADER)):
        return None
    try:
        return await known_author(request, site)
    except ApiError:
        return None


#: Answers that depend on who asks (a reader's own shadowed comments).
VARY_IDENTITY = "Authorization, X-Comments-Guest"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
