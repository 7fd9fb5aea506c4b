"""Anonymous thread first pages and counts served from the node's ReadCache, with an
ETag from the cache key, 304 on a matching If-None-Match and a public Cache-Control.

Exactness: the key holds each article's ``last_seq`` and ``reactions_version`` (likes
move no seq), read (one indexed query) before the answer is looked up, so an answer is
never older than the last event or like stored for its articles, whichever node wrote
it; a requester naming an identity (Authorization, X-Comments-Guest) is never served from
here (their own shadowed comments differ).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from comments.infra.read_cache import etag_of
from comments.sites import Site
from comments.store.reactions import ReactionStore
from comments.web.common import GUEST_HEADER, VARY_IDENTITY, node_of


def cacheable(request: Request) -> bool:
    """Anonymous requests on a node whose cache is on."""
    if request.headers.get("authorization") or request.headers.get(GUEST_HEADER):
        return False
    return node_of(request).read_cache.enabled


def _site_mark(site: Site) -> str:
    # Site settings (names shown, hygiene) change answers without an event.
    return json.dumps(site.settings, sort_keys=True, default=str)


def _matches(request: Request, etag: str) -> bool:
    sent = request.headers.get("if-none-match")
    if not sent:
        return False
    tags = {t.strip().removeprefix("W/") for t in sent.split(",")}
    return "*" in tags or etag in tags


def _answer(request: Request, key: Hashable, body: bytes) -> Response:
    settings = node_of(request).settings
    etag = etag_of(key)
    headers = {
        "ETag": etag,
        "Vary": VARY_IDENTITY,
        "Cache-Control": (
            f"public, max-age={settings.read_cache_max_age_s}, "
            f"stale-while-revalidate={settings.read_cache_swr_s}"
        ),
    }
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


async def cached(
    request: Request,
    site: Site,
    kind: str,
    articles: list[str],
    params: tuple[Hashable, ...],
    build: Callable[[], Awaitable[tuple[Any, dict[str, int]]]],
) -> Response:
    """The answer for ``articles`` from the cache, or built (``build`` returns the JSON
    document and the seqs it was read at) and kept when those seqs are the keyed ones."""
    node = node_of(request)
    # Likes move no seq: each article's reactions_version is in the key as well.
    marks = await ReactionStore(node.store).marks(site.slug, articles)
    at = tuple(marks.get(a, (0, 0))[0] for a in articles)
    liked = tuple(marks.get(a, (0, 0))[1] for a in articles)
    key = (kind, site.slug, _site_mark(site), tuple(articles), params, at, liked)
    body = node.read_cache.get(key)
    if body is None:
        document, seen = await build()
        body = bytes(JSONResponse(document).body)
        # Kept only when read at the keyed seqs: a write in between would file a newer
        # answer under an older key (harmless, but not exact).
        if all(seen.get(a, at[i]) == at[i] for i, a in enumerate(articles)):
            node.read_cache.put(key, body)
    return _answer(request, key, body)
