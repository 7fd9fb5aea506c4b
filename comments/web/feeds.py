"""Atom 1.0 feeds of the latest published comments (docs/api.md, "Feeds"):
``GET /feeds/sites/{site}.atom`` and ``GET /feeds/sites/{site}/articles/{article}.atom``."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from urllib.parse import quote
from xml.etree import ElementTree as ET

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from comments.store.feeds import Entry, Feed, latest
from comments.web.common import article_of, node_of, site_of

ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _stamp(when: datetime) -> str:
    if when.tzinfo is None:  # stored as UTC
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters, even escaped: drop them."""
    return "".join(
        c for c in text if c in "\t\n\r" or (ord(c) >= 0x20 and not 0xFFFE <= ord(c) <= 0xFFFF)
    )


def render(feed: Feed, *, feed_id: str, title: str, self_url: str, link: str | None) -> bytes:
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")
    _sub(root, "id", feed_id)
    _sub(root, "title", _clean(title))
    newest = max((e.updated_at for e in feed.entries), default=EPOCH)
    _sub(root, "updated", _stamp(newest))
    _sub(root, "link", rel="self", href=self_url, type=MEDIA_TYPE)
    if link:
        _sub(root, "link", rel="alternate", href=_clean(link))
    _sub(root, "generator", "comments")
    for entry in feed.entries:
        _entry(root, entry)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def _entry(root: ET.Element, entry: Entry) -> None:
    node = _sub(root, "entry")
    _sub(node, "id", f"urn:comments:comment:{entry.id}")
    label = entry.title or entry.article
    _sub(node, "title", _clean(f"{entry.author_name} on {label}"))
    _sub(node, "updated", _stamp(entry.updated_at))
    _sub(node, "published", _stamp(entry.created_at))
    author = _sub(node, "author")
    _sub(author, "name", _clean(entry.author_name) or "anonymous")
    if entry.url:
        _sub(node, "link", rel="alternate", href=_clean(entry.url))
    _sub(node, "content", _clean(entry.body), type="text")


async def _serve(request: Request, article: str | None) -> Response:
    site = await site_of(request)
    feed = await latest(node_of(request).store, site.slug, article)
    etag = (
        '"'
        + hashlib.sha256(f"{site.slug}\0{article}\0{feed.version}".encode()).hexdigest()[:32]
        + '"'
    )
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    wanted = request.headers.get("if-none-match", "")
    if etag in {tag.strip() for tag in wanted.split(",")} or wanted.strip() == "*":
        return Response(status_code=304, headers=headers)
    link = next((e.url for e in feed.entries if e.url), None) if article is not None else None
    scope = (
        f"site:{site.slug}" if article is None else f"article:{site.slug}:{quote(article, safe='')}"
    )
    body = render(
        feed,
        feed_id=f"urn:comments:{scope}",
        title=f"Comments on {article}" if article is not None else f"Comments on {site.slug}",
        self_url=str(request.url),
        link=link,
    )
    return Response(body, media_type=MEDIA_TYPE, headers=headers)


async def site_feed(request: Request) -> Response:
    return await _serve(request, None)


async def article_feed(request: Request) -> Response:
    # The route's `{article:path}.atom` takes everything up to the last ".atom".
    return await _serve(request, article_of(request))


routes = [
    Route("/feeds/sites/{site}/articles/{article:path}.atom", article_feed, methods=["GET"]),
    Route("/feeds/sites/{site}.atom", site_feed, methods=["GET"]),
]
