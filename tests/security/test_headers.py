"""Security headers on everything the server answers: no response may be sniffed into a
script or a page (``nosniff``), every HTML page carries a Content-Security-Policy without
inline script, and the moderator console cannot be framed (clickjacking)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import httpx
import pytest

from comments.web.assets import Demo
from tests.conftest import RunningServer, add_site

NOSNIFF = "nosniff"


def static_files() -> list[str]:
    """Every file the package serves under /static (scripts, styles)."""
    found: list[str] = []
    pending = [(resources.files("comments").joinpath("static"), "")]
    while pending:
        folder, prefix = pending.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                pending.append((entry, f"{prefix}{entry.name}/"))
            elif entry.name.endswith((".js", ".css")):
                found.append(f"/static/{prefix}{entry.name}")
    return sorted(found)


@pytest.fixture
async def server(sqlite_url: str, start_server: Any) -> RunningServer:
    from comments.settings import Settings

    await add_site(sqlite_url)
    # As `comments demo` serves it: the demo page is served only then.
    running: RunningServer = await start_server(
        Settings(database_url=sqlite_url, classifier="profanity-check", recover_interval_s=0),
        demo=Demo(site="news", article="a"),
    )
    return running


def csp(response: httpx.Response) -> dict[str, str]:
    policy = response.headers.get("content-security-policy", "")
    directives = (d.strip().partition(" ") for d in policy.split(";") if d.strip())
    return {name: value for name, _, value in directives}


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/embed.js", "text/javascript"),
        ("/count.js", "text/javascript"),
        *[(p, "text/css" if p.endswith(".css") else "text/javascript") for p in static_files()],
    ],
)
async def test_scripts_and_styles_are_never_sniffed(
    server: RunningServer, path: str, media_type: str
) -> None:
    async with server.client() as http:
        for headers in ({}, {"Accept-Encoding": "gzip"}):
            r = await http.get(path, headers=headers)
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith(media_type)
            assert r.headers["x-content-type-options"] == NOSNIFF
            # A revalidation (304) keeps the header too.
            again = await http.get(path, headers={"If-None-Match": r.headers["etag"], **headers})
            assert again.status_code == 304
            assert again.headers["x-content-type-options"] == NOSNIFF


@pytest.mark.parametrize(
    ("path", "frame_ancestors"),
    [("/moderation", "'none'"), ("/demo", "'self'")],
    ids=["console", "demo"],
)
async def test_html_pages_carry_a_strict_policy(
    server: RunningServer, path: str, frame_ancestors: str
) -> None:
    async with server.client() as http:
        for method in ("GET", "HEAD"):
            r = await http.request(method, path)
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/html")
            assert r.headers["x-content-type-options"] == NOSNIFF
            policy = csp(r)
            assert policy["default-src"] == "'none'"
            assert policy["script-src"] == "'self'"  # no inline script, no eval
            assert "unsafe" not in r.headers["content-security-policy"]
            assert policy["base-uri"] == "'none'"
            assert policy["frame-ancestors"] == frame_ancestors
    if frame_ancestors == "'none'":
        assert r.headers["x-frame-options"] == "DENY"  # for browsers without CSP 2
        assert r.headers["referrer-policy"] == "no-referrer"


async def test_every_html_the_package_ships_is_served_only_as_a_page_with_headers(
    server: RunningServer,
) -> None:
    """The raw templates are not reachable under /static (they would lack the policy)."""
    async with server.client() as http:
        for path in ("/static/moderation.html", "/static/demo/index.html"):
            r = await http.get(path)
            assert r.status_code == 404
            assert r.headers["content-type"].startswith("application/json")


THREAD = "/api/v1/sites/news/articles/a/comments"
PREFLIGHT = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        pytest.param("GET", THREAD, {}, 200, id="list"),
        pytest.param("POST", THREAD, {"json": {"body": "hi", "author_name": "A"}}, 201, id="post"),
        pytest.param("POST", THREAD, {"content": b"{"}, 400, id="bad-json"),
        pytest.param("POST", THREAD, {"json": {"body": ""}}, 422, id="invalid"),
        pytest.param("GET", "/api/v1/sites/nope/articles/a/comments", {}, 404, id="no-site"),
        pytest.param("GET", "/api/v1/sites/news/counts?article=a", {}, 200, id="counts"),
        pytest.param("GET", "/api/v1/sites/news/config", {}, 200, id="config"),
        pytest.param("GET", "/api/v1/moderation/sites/news/queue", {}, 401, id="no-token"),
        pytest.param("PUT", THREAD, {}, 405, id="method"),
        pytest.param("GET", "/no/such/route", {}, 404, id="no-route"),
        pytest.param("GET", "/healthz", {}, 200, id="healthz"),
        pytest.param("GET", "/readyz", {}, 200, id="readyz"),
        pytest.param("GET", "/openapi.json", {}, 200, id="openapi"),
        pytest.param("GET", "/metrics", {}, 200, id="metrics"),
        pytest.param("OPTIONS", THREAD, {"headers": PREFLIGHT}, 403, id="preflight-refused"),
    ],
)
async def test_api_answers_are_never_sniffed(
    server: RunningServer, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    async with server.client() as http:
        r = await http.request(method, path, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["x-content-type-options"] == NOSNIFF
    if path != "/metrics":
        assert r.headers["content-type"].startswith("application/json")
