"""Who may write: JSON bodies only, from pages on allowed origins (docs/api.md, Writes).

A browser sends a cross-origin ``POST`` with a ``text/plain`` body (``fetch`` in
``no-cors`` mode, a form) without asking first, and the CORS rules only keep the answer
from the page, not the request from the server. Requiring ``Content-Type:
application/json`` on every write makes a browser preflight it (and the preflight is
refused to origins a site does not allow, web/cors.py); refusing a write whose ``Origin``
is not allowed covers browsers that skip the preflight for any reason.

The server's own origins come from configuration (``COMMENTS_PUBLIC_URL``,
``Settings.own_origins``), never from the request's ``Host``: a hostile page on a name
whose DNS points at this server (DNS rebinding) sends matching ``Host`` and ``Origin``.
Clients that send no ``Origin`` (servers, apps, the command line) are not browsers
acting for a page, and pass.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers
from starlette.requests import Request

from comments.sites import Site, normalize_origin
from comments.web.common import node_of
from comments.web.errors import ApiError

JSON = "application/json"
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def is_json(headers: Headers) -> bool:
    """``application/json``, with or without parameters (``; charset=utf-8``)."""
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == JSON


def origin_allowed(
    origin: str | None, own: Collection[str], site_origins: Collection[str] = ()
) -> bool:
    """No Origin (not a browser page), the server's own origin, or one the site allows.
    ``null`` (sandboxed frames, files, some redirects) is never allowed."""
    if origin is None:
        return True
    try:
        normalized = normalize_origin(origin)
    except ValueError:
        return False
    return normalized in own or normalized in site_origins


def check_write(request: Request, site: Site | None) -> None:
    """A write's content type, then its origin. ``site`` is None for the moderation API,
    which the server's own console calls: only the server's own origins count there.

    Raises:
        ApiError: 415 ``unsupported_media_type``; 403 ``origin_not_allowed``.
    """
    if not is_json(request.headers):
        raise ApiError(
            415, "unsupported_media_type", "send writes with Content-Type: application/json"
        )
    own = node_of(request).settings.own_origins
    if not origin_allowed(request.headers.get("origin"), own, site.origins if site else ()):
        raise ApiError(
            403,
            "origin_not_allowed",
            "this origin may not write here"
            if site is None
            else "this origin is not allowed for this site",
        )
