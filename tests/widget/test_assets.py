"""What the server hands browsers, over plain HTTP: the scripts (size, caching, no HTML
sinks), the pages' security headers, the widget's config endpoint and per-site CORS."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import httpx
import pytest

from comments.web.assets import minify_js
from tests.widget.conftest import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

STATIC = Path(__file__).resolve().parents[2] / "comments" / "static"
EMBED_GZIP_LIMIT = 15 * 1024


async def test_embed_js_stays_within_15_kb_gzipped(stack: Stack) -> None:
    async with stack.client() as http:
        r = await http.get("/embed.js", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    size = len(gzip.compress(r.content, compresslevel=9))
    assert size <= EMBED_GZIP_LIMIT, f"embed.js is {size} bytes gzipped (limit 15 kB)"


@pytest.mark.parametrize("path", ["/embed.js", "/count.js"], ids=["embed", "count"])
async def test_scripts_are_cached_and_revalidated_by_etag(stack: Stack, path: str) -> None:
    async with stack.client() as http:
        first = await http.get(path)
        assert first.status_code == 200
        assert first.headers["content-type"].startswith("text/javascript")
        assert "max-age=" in first.headers["cache-control"]
        assert first.headers["x-content-type-options"] == "nosniff"
        assert first.headers["content-encoding"] == "gzip"  # httpx asks for it
        etag = first.headers["etag"]

        again = await http.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag

        changed = await http.get(path, headers={"If-None-Match": '"something-else"'})
        assert changed.status_code == 200 and changed.content == first.content

        plain = await http.get(path, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == first.content
        source = (STATIC / path.lstrip("/")).read_bytes()
        # Served minified, made from the readable source (comments.web.assets.MINIFIED).
        assert plain.content == minify_js(source)
        assert len(plain.content) < len(source)
        assert plain.content.startswith(b"/*!")  # the header comment is kept


@pytest.mark.parametrize(
    "name", ["embed.js", "count.js", "moderation.js"], ids=["embed", "count", "console"]
)
async def test_scripts_never_write_html(name: str) -> None:
    """Comment data reaches pages through textContent: no HTML-parsing sink exists."""
    source = (STATIC / name).read_text()
    sinks = re.findall(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment"
        r"|DOMParser|srcdoc|\beval\(|new Function",
        source,
    )
    assert sinks == []


@pytest.mark.parametrize(
    ("path", "frame_ancestors"),
    [("/moderation", "'none'"), ("/static/moderation.js", None), ("/static/demo/demo.css", None)],
    ids=["console", "console-js", "demo-css"],
)
async def test_pages_carry_security_headers(
    stack: Stack, path: str, frame_ancestors: str | None
) -> None:
    async with stack.client() as http:
        r = await http.get(path)
    assert r.status_code == 200
    assert r.headers["x-content-type-options"] == "nosniff"
    if frame_ancestors is not None:
        csp = r.headers["content-security-policy"]
        assert f"frame-ancestors {frame_ancestors}" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY"


async def test_demo_page_is_only_served_by_the_demo_command(stack: Stack) -> None:
    async with stack.client() as http:
        r = await http.get("/demo")
    assert r.status_code == 404


@pytest.mark.parametrize(
    "path", ["/static/../cli.py", "/static/demo/article.txt", "/static/nope.js"]
)
async def test_static_serves_only_browser_assets(stack: Stack, path: str) -> None:
    async with stack.client() as http:
        r = await http.get(path)
    assert r.status_code == 404


async def test_site_config_tells_the_widget_what_it_needs_and_no_secret(stack: Stack) -> None:
    await stack.add_site("cfg", guests=True, live_insert=True, sso_secrets=["s" * 40])
    moderator = await stack.moderator("cfg", "mona")
    async with stack.client() as http:
        r = await http.get("/api/v1/sites/cfg/config", params={"article": "a/1"})
        assert r.status_code == 200
        config = r.json()
        assert config["guests"] is True and config["live_insert"] is True
        assert config["sso"] is True and config["closed"] is False
        assert "s" * 40 not in r.text and "secret" not in r.text
        assert config["default_order"] == "newest"  # the site setting's default

        closed = await http.patch(
            "/api/v1/moderation/sites/cfg/articles/a/1",
            json={"closed": True},
            headers={"Authorization": f"Bearer {moderator}"},
        )
        assert closed.status_code == 200
        r = await http.get("/api/v1/sites/cfg/config", params={"article": "a/1"})
        assert r.json()["closed"] is True

        await stack.set_site("cfg", default_order="top")
        r = await http.get("/api/v1/sites/cfg/config")
        assert r.json()["default_order"] == "top"

        assert (await http.get("/api/v1/sites/nope/config")).status_code == 404


async def test_moderator_whoami_names_the_tokens_site(stack: Stack) -> None:
    await stack.add_site("who")
    token = await stack.moderator("who", "walt")
    async with stack.client() as http:
        r = await http.get("/api/v1/moderation/me", headers={"Authorization": f"Bearer {token}"})
        assert r.json() == {"site": "who", "name": "walt", "role": "moderator", "scopes": []}
        r = await http.get("/api/v1/moderation/me", headers={"Authorization": "Bearer mod_nope"})
        assert r.status_code == 401


# -- CORS ---------------------------------------------------------------------------------


async def _preflight(http: httpx.AsyncClient, origin: str, site: str = "cors") -> httpx.Response:
    return await http.options(
        f"/api/v1/sites/{site}/articles/2025/07/x/comments",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-comments-guest",
        },
    )


async def test_preflight_from_an_allowed_origin_is_granted(stack: Stack) -> None:
    await stack.add_site("cors")
    async with stack.client() as http:
        r = await _preflight(http, stack.partner.origin)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == stack.partner.origin
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "x-comments-guest"} <= allowed
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "Origin" in r.headers["vary"]


@pytest.mark.parametrize(
    "origin",
    ["stranger", "https://evil.example", "null", "http://127.0.0.1"],
    ids=["other-port", "other-host", "null", "no-port"],
)
async def test_other_origins_get_no_cors_grant(stack: Stack, origin: str) -> None:
    if "cors2" not in await stack.node.store.list_sites():
        await stack.add_site("cors2")
    origin = stack.stranger.origin if origin == "stranger" else origin
    async with stack.client() as http:
        pre = await _preflight(http, origin, site="cors2")
        get = await http.get(
            "/api/v1/sites/cors2/articles/2025/07/x/comments", headers={"Origin": origin}
        )
    assert pre.status_code == 403
    assert "access-control-allow-origin" not in pre.headers
    assert get.status_code == 200  # answered, but the browser keeps it from the page
    assert "access-control-allow-origin" not in get.headers
    assert "Origin" in get.headers["vary"]


async def test_cors_grant_is_per_site_and_never_a_wildcard(stack: Stack) -> None:
    await stack.add_site("cors3", origins=["https://only-this.example"])
    async with stack.client() as http:
        mine = await http.get(
            "/api/v1/sites/cors3/counts?article=a", headers={"Origin": "https://only-this.example"}
        )
        other_site = await http.get(
            "/api/v1/sites/cors3/counts?article=a", headers={"Origin": stack.partner.origin}
        )
        error = await http.post(
            "/api/v1/sites/cors3/articles/a/comments",
            json={"body": ""},
            headers={"Origin": "https://only-this.example"},
        )
        moderation = await http.get(
            "/api/v1/moderation/sites/cors3/queue", headers={"Origin": "https://only-this.example"}
        )
    assert mine.headers["access-control-allow-origin"] == "https://only-this.example"
    assert "retry-after" in mine.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other_site.headers
    # Errors carry the grant too, so the widget can show their message.
    assert error.status_code == 422
    assert error.headers["access-control-allow-origin"] == "https://only-this.example"
    # The moderation API is for the console, on the server's own origin: no CORS at all.
    assert "access-control-allow-origin" not in moderation.headers
