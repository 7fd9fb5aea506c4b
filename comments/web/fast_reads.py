"""The shortest way to a cached read: an anonymous GET of a thread's first page or of
counts, whose answer the node keeps and whose marks it knows (comments.live.read_marks),
answered before Starlette's middleware, routing and request objects.

It answers exactly what the full path (comments.web.public, cached_reads, cors, assets)
would: same bytes, same headers. Anything it is unsure of (a miss, an unknown site, an
identity, an unusual query, a root path) goes the full way instead, which also answers
every error.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.types import Scope, Send

from comments.models import SITE_SLUG
from comments.node import Node
from comments.sites import normalize_origin
from comments.web.cached_reads import headers_of
from comments.web.common import valid_article
from comments.web.cors import EXPOSE_HEADERS

PAGE = re.compile(r"^/api/v1/sites/([^/]+)/articles/(.*)/comments$")
COUNTS = re.compile(r"^/api/v1/sites/([^/]+)/counts$")
# The full path's limits (comments.web.public).
PAGE_DEFAULT = 50
PAGE_MAX = 100
COUNTS_MAX = 100
NOSNIFF = (b"x-content-type-options", b"nosniff")


def _page_params(query: str) -> tuple[str, int] | None:
    """``(order, limit)`` of a plain first-page query, or None."""
    order, limit = "oldest", PAGE_DEFAULT
    if not query:
        return order, limit
    seen = set()
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in seen:
            return None
        seen.add(name)
        if name == "order" and value in ("oldest", "newest"):
            order = value
        elif name == "limit" and value.isascii() and value.isdigit() and int(value) > 0:
            limit = min(int(value), PAGE_MAX)
        else:
            return None
    return order, limit


def _counts_keys(query: str) -> list[str] | None:
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs or any(name != "article" for name, _ in pairs):
        return None
    keys = list(dict.fromkeys(value for _, value in pairs))
    if len(keys) > COUNTS_MAX or not all(valid_article(k) for k in keys):
        return None
    return keys


async def answer_cached(scope: Scope, send: Send) -> bool:
    """Answer ``scope`` from the cache and return True, or do nothing and return False."""
    if scope.get("root_path"):
        return False
    node: Node | None = (scope.get("state") or {}).get("node")
    if node is None or not node.read_cache.enabled:
        return False
    path: str = scope["path"]
    query = scope["query_string"].decode("latin-1")
    page = PAGE.match(path)
    if page is not None:
        slug, article = page.group(1), page.group(2)
        params = _page_params(query)
        if params is None or not valid_article(article):
            return False
        key_params: tuple[str, int] | tuple[()] = params
        kind, articles = "page", [article]
    else:
        counts = COUNTS.match(path)
        if counts is None:
            return False
        slug = counts.group(1)
        keys = _counts_keys(query)
        if keys is None:
            return False
        kind, articles, key_params = "counts", keys, ()
    if not SITE_SLUG.fullmatch(slug):
        return False
    origin = etags = None
    for name, value in scope["headers"]:
        if name in (b"authorization", b"x-comments-guest"):
            if value:
                return False
        elif name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"if-none-match":
            etags = value.decode("latin-1")
    site = node.sites.peek(slug)
    if site is None:
        return False
    marks = await node.hub.marks_now(slug, articles)
    if marks is None:
        return False
    key = (kind, slug, site.mark, tuple(articles), key_params, tuple(marks))
    entry = node.read_cache.lookup(key, count_miss=False)
    if entry is None:
        return False
    status, body, headers = headers_of(node.settings, entry, etags)
    # What comments.web.cors and assets.NoSniff add on the full path.
    headers.append((b"vary", b"Authorization, X-Comments-Guest, Origin"))
    headers.append(NOSNIFF)
    if origin is not None:
        try:
            granted = normalize_origin(origin) in site.origins
        except ValueError:
            granted = False
        if granted:
            headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
            headers.append((b"access-control-expose-headers", EXPOSE_HEADERS.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return True
