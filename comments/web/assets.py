"""What browsers load: the widget scripts, the moderator console, the demo page, and the
small public endpoint the widget reads its site options from (``…/config``).

Static files are read from the package once, on first use, and served with an ETag
(304 on ``If-None-Match``) and, for clients that accept it, gzip-compressed. The widget
scripts partners load are served minified (rjsmin: whitespace and comments only, the
``/*!`` header kept), made from the readable source at that first read: no build step.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import string
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import PurePosixPath

import rjsmin
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from comments.models import ARTICLE_MAX, AUTHOR_NAME_MAX, BODY_MAX
from comments.sites import DEFAULTS
from comments.web.common import node_of, site_of, valid_article
from comments.web.cors import SiteCors
from comments.web.errors import ApiError
from comments.web.moderation import moderator_of

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
# Partners load these from their pages: cached a while, revalidated by ETag after.
WIDGET_CACHE = "public, max-age=300, stale-while-revalidate=86400"
# The console's files change with the server: always revalidated.
CONSOLE_CACHE = "no-cache"
SERVED_UNDER_STATIC = {".js", ".css", ".svg", ".png", ".ico"}
# Loaded on every partner page (embed.js has a 15 kB gzipped budget): served minified.
# The console's scripts stay as written, for moderators' devtools.
MINIFIED = {"embed.js", "count.js"}

# No inline script or style anywhere: the widget styles its Shadow DOM with a constructed
# stylesheet, and the console sets sizes through the CSSOM.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
)
CONSOLE_CSP = _CSP.format(ancestors="'none'")
DEMO_CSP = _CSP.format(ancestors="'self'")


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    media_type: str


def asset(name: str) -> Asset | None:
    """A file under ``comments/static`` (``name`` is relative, '/'-separated)."""
    return _assets().get(name)


@cache
def _assets() -> dict[str, Asset]:
    """Every servable file of the package, read once. Requests only ever look names up
    in this table: a path from a URL never reaches the filesystem (no traversal), and
    names that miss are not remembered (a cache keyed by request paths grows without
    bound)."""
    found: dict[str, Asset] = {}
    pending = [(resources.files("comments").joinpath("static"), PurePosixPath())]
    while pending:
        folder, prefix = pending.pop()
        for entry in folder.iterdir():
            path = prefix / entry.name
            if entry.is_dir():
                pending.append((entry, path))
            elif entry.is_file() and path.suffix in MEDIA_TYPES:
                body = entry.read_bytes()
                if path.as_posix() in MINIFIED:
                    body = minify_js(body)
                found[path.as_posix()] = Asset(
                    body=body,
                    gzipped=gzip.compress(body, compresslevel=9, mtime=0),
                    etag=f'"{hashlib.sha256(body).hexdigest()[:20]}"',
                    media_type=MEDIA_TYPES[path.suffix],
                )
    return found


def minify_js(source: bytes) -> bytes:
    """Whitespace and comments out, license (``/*!``) comments kept."""
    text: str = rjsmin.jsmin(source.decode("utf-8"), keep_bang_comments=True)
    return text.encode("utf-8")


def _etag_matches(request: Request, etags: tuple[str, ...]) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    sent = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in sent or any(tag in sent for tag in etags)


def asset_response(request: Request, item: Asset, cache_control: str) -> Response:
    gz_etag = item.etag[:-1] + '-gz"'
    use_gzip = "gzip" in request.headers.get("accept-encoding", "").lower()
    headers = {
        "Cache-Control": cache_control,
        "ETag": gz_etag if use_gzip else item.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        # Partner pages that isolate themselves (COEP) may still load the widget.
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if _etag_matches(request, (item.etag, gz_etag)):
        return Response(status_code=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
        return Response(item.gzipped, media_type=item.media_type, headers=headers)
    return Response(item.body, media_type=item.media_type, headers=headers)


async def embed_js(request: Request) -> Response:
    return asset_response(request, _must("embed.js"), WIDGET_CACHE)


async def count_js(request: Request) -> Response:
    return asset_response(request, _must("count.js"), WIDGET_CACHE)


async def static_file(request: Request) -> Response:
    name: str = request.path_params["path"]
    item = asset(name) if PurePosixPath(name).suffix in SERVED_UNDER_STATIC else None
    if item is None:
        raise ApiError(404, "not_found", "no such file")
    return asset_response(request, item, CONSOLE_CACHE)


def _must(name: str) -> Asset:
    item = asset(name)
    if item is None:  # a broken install: the package data was not shipped
        raise ApiError(500, "missing_asset", f"comments/static/{name} is missing")
    return item


def page_headers(csp: str, *, framable: bool) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer" if not framable else "strict-origin-when-cross-origin",
        "Cache-Control": "no-cache",
    }
    if not framable:
        headers["X-Frame-Options"] = "DENY"
    return headers


async def moderation_page(request: Request) -> Response:
    page = _must("moderation.html")
    return HTMLResponse(page.body, headers=page_headers(CONSOLE_CSP, framable=False))


# -- the demo page ---------------------------------------------------------------------


@dataclass(frozen=True)
class Demo:
    """What ``comments demo`` shows at ``/demo`` (``create_app(…, demo=…)``)."""

    site: str
    article: str


@cache
def article_text() -> tuple[str, tuple[str, ...]]:
    """The sample article: its headline and paragraphs."""
    text = resources.files("comments").joinpath("static", "demo", "article.txt").read_text("utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0], tuple(lines[1:])


def render_demo(demo: Demo) -> str:
    headline, paragraphs = article_text()
    template = string.Template(_must("demo/index.html").body.decode("utf-8"))
    esc = html.escape
    return template.substitute(
        headline=esc(headline),
        lede=esc(paragraphs[0]) if paragraphs else "",
        paragraphs="\n".join(f"<p>{esc(p)}</p>" for p in paragraphs[1:]),
        site=esc(demo.site),
        article=esc(demo.article),
    )


async def demo_page(request: Request) -> Response:
    demo = getattr(request.app.state, "demo", None)
    if not isinstance(demo, Demo):  # only `comments demo` serves it
        raise ApiError(404, "not_found", "the demo page is served by `comments demo`")
    return HTMLResponse(render_demo(demo), headers=page_headers(DEMO_CSP, framable=True))


# -- small JSON endpoints ----------------------------------------------------------------


async def site_config(request: Request) -> JSONResponse:
    """The site options the widget needs (``?article=`` adds that article's state).
    Public: never a secret, only what changes how the widget behaves."""
    site = await site_of(request)
    settings = site.settings
    config: dict[str, object] = {
        "site": site.slug,
        "guests": site.guests,
        "sso": bool(site.sso_secrets),
        "live_insert": bool(settings.get("live_insert")),
        "premoderated": bool(settings.get("premoderated")),
        "closed": False,
        "limits": {"body": BODY_MAX, "author_name": AUTHOR_NAME_MAX},
        # Edits and threads (docs/api.md, "Editing", "Threads").
        "edit_window_s": int(settings.get("edit_window_s", 0)),
        "reply_depth": int(settings.get("reply_depth", 3)),
        # The thread's order until the reader picks one: newest, oldest or top.
        "default_order": str(settings.get("default_order") or DEFAULTS["default_order"]),
        # Reply e-mails on (COMMENTS_SMTP_URL): the widget offers "E-mail me replies".
        "mail": node_of(request).mail is not None,
    }
    article = request.query_params.get("article")
    if article is not None:
        if not valid_article(article):
            raise ApiError(
                422, "invalid_article", f"an article id has 1 to {ARTICLE_MAX} characters"
            )
        row = await node_of(request).store.get_article(site.slug, article)
        if row is not None:
            config["closed"] = row.closed
            config["premoderated"] = bool(config["premoderated"] or row.premoderated)
    return JSONResponse(config, headers={"Cache-Control": "no-cache"})


async def whoami(request: Request) -> JSONResponse:
    """The console's sign-in check: which moderator and site a token belongs to."""
    moderator = await moderator_of(request)
    return JSONResponse(
        {
            "site": moderator.site,
            "name": moderator.name,
            "role": moderator.role,
            "scopes": list(moderator.scopes),
        }
    )


NOSNIFF = (b"x-content-type-options", b"nosniff")


class NoSniff:
    """ASGI middleware: ``X-Content-Type-Options: nosniff`` on every HTTP answer, so a
    browser never runs a JSON error (or anything else) as a script or a page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                # On every answer: the raw list (names in lower case), not MutableHeaders.
                headers = list(message.get("headers", ()))
                if all(name != NOSNIFF[0] for name, _ in headers):
                    headers.append(NOSNIFF)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_nosniff)


routes = [
    Route("/embed.js", embed_js, methods=["GET", "HEAD"]),
    Route("/count.js", count_js, methods=["GET", "HEAD"]),
    Route("/static/{path:path}", static_file, methods=["GET", "HEAD"]),
    Route("/moderation", moderation_page, methods=["GET", "HEAD"]),
    Route("/demo", demo_page, methods=["GET", "HEAD"]),
    Route("/api/v1/sites/{site}/config", site_config, methods=["GET"]),
    Route("/api/v1/moderation/me", whoami, methods=["GET"]),
]
middleware = [Middleware(NoSniff), Middleware(SiteCors)]
