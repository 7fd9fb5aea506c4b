"""Anonymous thread first pages and counts served from the node's ReadCache, with an
ETag from the cache key, 304 on a matching If-None-Match and a public Cache-Control.

Exactness: the key holds each article's mark, ``(last_seq, reactions_version)`` (likes
move no seq), so an answer is never older than the last event or like stored for its
articles, whichever node wrote it. The marks come from the hub with no database work
for the articles this node watches (comments.live.read_marks: a broker barrier shows
that every message published before the request arrived has been handled), else from
one indexed query, after which the node watches them. A requester naming an identity
(Authorization, X-Comments-Guest) is never served from here (their own shadowed
comments differ).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from comments.infra.read_cache import etag_of
from comments.live.read_marks import NO_MARK
from comments.settings import Settings
from comments.sites import Site
from comments.web.common import GUEST_HEADER, VARY_IDENTITY, node_of


def cacheable(request: Request) -> bool:
    """Anonymous requests on a node whose cache is on."""
    if request.headers.get("authorization") or request.headers.get(GUEST_HEADER):
        return False
    return node_of(request).read_cache.enabled


class _Cached(Response):
    """A kept answer: its headers are made from what is known, without Starlette's
    generic header building (this is the path that must cost least)."""

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = headers


def _matches(sent: str | None, etag: str) -> bool:
    if not sent:
        return False
    tags = {t.strip().removeprefix("W/") for t in sent.split(",")}
    return "*" in tags or etag in tags


def headers_of(
    settings: Settings, entry: tuple[bytes, str], if_none_match: str | None
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, body and headers (all but Vary) of a kept answer: 304 when the client's
    If-None-Match names its ETag."""
    body, etag = entry
    headers = [
        (b"etag", etag.encode()),
        (
            b"cache-control",
            b"public, max-age=%d, stale-while-revalidate=%d"
            % (settings.read_cache_max_age_s, settings.read_cache_swr_s),
        ),
    ]
    if _matches(if_none_match, etag):
        return 304, b"", headers
    headers.append((b"content-length", b"%d" % len(body)))
    headers.append((b"content-type", b"application/json"))
    return 200, body, headers


VARY = (b"vary", VARY_IDENTITY.encode())


def _answer(request: Request, settings: Settings, entry: tuple[bytes, str]) -> Response:
    status, body, headers = headers_of(settings, entry, request.headers.get("if-none-match"))
    headers.append(VARY)
    return _Cached(status, body, headers)


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
    prefix = (kind, site.slug, site.mark, tuple(articles), params)
    known = await node.hub.marks_now(site.slug, articles)
    if known is not None:
        key: Hashable = (*prefix, tuple(known))
        entry = node.read_cache.lookup(key)
        if entry is not None:
            return _answer(request, node.settings, entry)
        marks = known
    else:
        found = await node.hub.learn_marks(site.slug, articles)
        marks = [found.get(a, NO_MARK) for a in articles]
        key = (*prefix, tuple(marks))
        entry = node.read_cache.lookup(key)
        if entry is not None:
            return _answer(request, node.settings, entry)
    document, seen = await build()
    body = bytes(JSONResponse(document).body)
    # Kept only when read at the keyed seqs: a write in between would file a newer
    # answer under an older key (harmless, but not exact).
    if all(seen.get(a, marks[i][0]) == marks[i][0] for i, a in enumerate(articles)):
        return _answer(request, node.settings, node.read_cache.put(key, body))
    return _answer(request, node.settings, (body, etag_of(key)))
