"""The widget tests' world: Debian's Chromium driven by Playwright, a comments server, and
partner pages served from other origins (another port of 127.0.0.1).

Everything here is module-scoped where it is costly (the browser, the servers), so the
tests of a module share one event loop: modules declare
``pytestmark = pytest.mark.asyncio(loop_scope="module")``.
"""

from __future__ import annotations

import asyncio
import html
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from comments.server.config import build_config
from comments.settings import Settings
from comments.web.app import create_app
from tests.conftest import OPEN_SITE, RunningServer, free_port, wait_until

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "widget"
SSO_SECRET = "partner-sso-secret-for-tests-0123"
# Every page gets these before its own scripts: a payload that runs leaves a trace.
XSS_HOOK = """
window.__xss = [];
for (const name of ['alert', 'confirm', 'prompt', 'print']) {
  window[name] = (...args) => { window.__xss.push(name + ':' + args.join(',')); };
}
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""

expect.set_options(timeout=15_000)


def widget_settings(database_url: str, **changes: Any) -> Settings:
    return Settings(
        database_url=database_url,
        broker_url="memory://",
        channel_prefix=f"w{secrets.token_hex(5)}",
        classifier="profanity-check",
        resync_interval_s=1.0,
    ).with_(**changes)


async def serve(app: Any, port: int | None = None) -> RunningServer:
    """A real uvicorn server on 127.0.0.1 in the running loop (stop it with .stop()):
    what `comments serve` runs, with the default server settings."""
    port = port or free_port()
    config = build_config(app, Settings(), port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), timeout=30)
    if task.done():
        task.result()
        raise AssertionError("server stopped during start-up")
    return RunningServer(server, task, port)


class PartnerSite:
    """A partner's web server: pages registered by the tests, on an origin of its own."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.running: RunningServer | None = None

    @property
    def origin(self) -> str:
        assert self.running is not None
        return self.running.url

    def add(self, name: str, page: str) -> str:
        self.pages[name] = page
        return f"{self.origin}/{name}"

    async def _page(self, request: Request) -> Response:
        page = self.pages.get(request.path_params["name"])
        if page is None:
            return Response("not found", status_code=404)
        return HTMLResponse(page)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/{name:path}", self._page)])
        self.running = await serve(app)


def partner_page(
    server_url: str,
    *,
    site: str = "news",
    article: str | None = None,
    title: str = "Partner article",
    before: str = "",
    after: str = "",
    count_js: bool = False,
    **data: str,
) -> str:
    """A partner article page with the widget (and count.js when asked) embedded."""
    attrs = "".join(f' data-{k.replace("_", "-")}="{html.escape(v)}"' for k, v in data.items())
    scripts = ""
    if article is not None:
        scripts += (
            f'<script async src="{server_url}/embed.js" data-site="{site}"'
            f' data-article="{html.escape(article)}"{attrs}></script>'
        )
    if count_js:
        scripts += f'<script async src="{server_url}/count.js" data-site="{site}"></script>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<link rel="icon" href="data:,">
<style>body{{font:17px/1.6 Georgia,serif;max-width:720px;margin:32px auto;padding:0 20px;
color:#222;background:#fff}}@media (prefers-color-scheme:dark){{body{{color:#ddd;
background:#111}}}}</style></head>
<body><h1>{html.escape(title)}</h1>{before}
<div id="comments"></div>{after}
{scripts}</body></html>"""


class Stack:
    """One comments server, a partner site it allows and a stranger site it does not."""

    def __init__(self, server: RunningServer, partner: PartnerSite, stranger: PartnerSite):
        self.server = server
        self.partner = partner
        self.stranger = stranger

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def node(self) -> Any:
        return self.server.node

    async def add_site(self, slug: str, **overrides: Any) -> str:
        settings = {
            **OPEN_SITE,
            "origins": [self.partner.origin],
            "sso_secrets": [SSO_SECRET],
            **overrides,
        }
        created = await self.node.store.create_site(slug, settings)
        assert created, f"site {slug} exists"
        self.node.sites.forget(slug)
        return slug

    async def set_site(self, slug: str, **changes: Any) -> None:
        stored = await self.node.store.get_site(slug)
        await self.node.store.save_site(slug, {**stored, **changes})
        self.node.sites.forget(slug)

    async def moderator(self, site: str, name: str) -> str:
        token: str = await self.node.review.add_moderator(site, name)
        return token

    def page(self, name: str, **kwargs: Any) -> str:
        """Register a partner page embedding the widget; returns its URL."""
        return self.partner.add(name, partner_page(self.url, **kwargs))

    def client(self) -> httpx.AsyncClient:
        return self.server.client()

    async def post(
        self,
        site: str,
        article: str,
        body: str,
        *,
        name: str = "Reader",
        headers: dict[str, str] | None = None,
        parent: str | None = None,
    ) -> httpx.Response:
        async with self.client() as http:
            return await http.post(
                f"/api/v1/sites/{site}/articles/{article}/comments",
                json={"body": body, "author_name": name, "parent": parent},
                headers=headers or {},
            )


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test does)")
    return CHROMIUM


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(chromium), args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    db = tmp_path_factory.mktemp("widget") / "comments.db"
    # The console is the server's own page: its origin is the server's (as `comments
    # serve` makes it without COMMENTS_PUBLIC_URL).
    port = free_port()
    settings = widget_settings(f"sqlite+aiosqlite:///{db}").serving_at("127.0.0.1", port)
    server = await serve(create_app(settings), port)
    partner, stranger = PartnerSite(), PartnerSite()
    await partner.start()
    await stranger.start()
    try:
        yield Stack(server, partner, stranger)
    finally:
        for running in (server, partner.running, stranger.running):
            if running is not None and not running.task.done():
                await running.stop()


OpenPage = Callable[..., Awaitable[Page]]


@pytest_asyncio.fixture(loop_scope="module")
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """Factory: ``await open_page(url, color_scheme="dark")`` → a page in a browser
    context of its own (its own reader: storage is not shared). Fails the test if any
    page threw a JavaScript error."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    async def open_(
        url: str | None = None,
        *,
        color_scheme: str = "light",
        viewport: dict[str, int] | None = None,
        context: BrowserContext | None = None,
    ) -> Page:
        if context is None:
            context = await browser.new_context(
                color_scheme=color_scheme,  # type: ignore[arg-type]
                viewport=viewport or {"width": 1000, "height": 900},
            )
            await context.add_init_script(XSS_HOOK)
            contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        if url is not None:
            await page.goto(url)
        return page

    yield open_
    for context in contexts:
        await context.close()
    assert not errors, f"JavaScript errors: {errors}"


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot under test-artifacts/widget/ (a CI artifact)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def sso_token(sub: str, name: str, *, expires_in: float = 3600, secret: str = SSO_SECRET) -> str:
    return jwt.encode(
        {"sub": sub, "name": name, "exp": int(time.time() + expires_in)}, secret, algorithm="HS256"
    )


async def live(page: Page) -> None:
    """Wait until the widget's socket is open (its status reads "Live")."""
    await expect(page.locator("#comments .c-root")).to_have_attribute("data-state", "live")


async def bodies(page: Page) -> list[str]:
    """The texts of the comments shown in the widget, in page order (textContent)."""
    result: list[str] = await page.evaluate(
        """() => Array.from(document.querySelector('#comments').shadowRoot
              .querySelectorAll('.c-body'), (e) => e.textContent)"""
    )
    return result


async def executed(page: Page) -> list[str]:
    """What injected code ran on this page (see XSS_HOOK): must stay empty."""
    result: list[str] = await page.evaluate("() => window.__xss")
    return result


async def write(page: Page, body: str, *, name: str | None = None) -> None:
    """Type a comment into the widget's main form and send it."""
    form = page.locator("#comments .c-compose form")
    await form.locator("textarea[name=body]").fill(body)
    if name is not None:
        await form.locator("input[name=author_name]").fill(name)
    await form.locator("button[type=submit]").click()


def form_message(page: Page) -> Any:
    """The main form's message line (errors and notices, role=alert)."""
    return page.locator("#comments .c-compose [role=alert]")
