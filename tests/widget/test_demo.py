"""`comments demo`: one command, and a newcomer sees the whole product."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import expect

from tests.conftest import free_port, wait_until
from tests.widget.conftest import OpenPage, live, screenshot, write

pytestmark = pytest.mark.asyncio(loop_scope="module")

ARTICLE = Path(__file__).resolve().parents[2] / "comments" / "static" / "demo" / "article.txt"


class Demo:
    def __init__(self, proc: asyncio.subprocess.Process, port: int, banner: str) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"
        self.banner = banner
        found = re.search(r"Moderator token\s+(\S+)", banner)
        assert found, banner
        self.token = found.group(1)


@pytest_asyncio.fixture(loop_scope="module")
async def run_demo(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``await run_demo()`` → a running `comments demo` in tmp_path."""
    procs: list[asyncio.subprocess.Process] = []

    async def start() -> Demo:
        port = free_port()
        log = tmp_path / f"demo-{port}.log"
        with log.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "comments",
                "demo",
                "--port",
                str(port),
                cwd=tmp_path,
                env={**os.environ, "COMMENTS_CLASSIFIER": "profanity-check"},
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
            )
        procs.append(proc)
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or "Ctrl+C" not in lines[-1]:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            if not line:
                raise AssertionError(f"demo exited: {''.join(lines)}{log.read_text()[-3000:]}")
            lines.append(line.decode())
        demo = Demo(proc, port, "".join(lines))

        async def healthy() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                async with httpx.AsyncClient(timeout=2) as http:
                    return (await http.get(f"{demo.url}/healthz")).status_code == 200
            return False

        await wait_until(healthy, timeout=60, interval=0.1)
        return demo

    yield start
    for proc in procs:
        await stop(proc)


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_demo_serves_the_article_the_widget_and_the_console(
    run_demo: Callable[..., Any], open_page: OpenPage, tmp_path: Path
) -> None:
    demo = await run_demo()
    assert f"{demo.url}/demo" in demo.banner and f"{demo.url}/moderation" in demo.banner
    assert demo.token.startswith("mod_")
    assert (tmp_path / "comments-demo.db").exists()
    async with httpx.AsyncClient(base_url=demo.url) as http:
        page = await http.get("/demo")
    assert "frame-ancestors" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"

    headline, *paragraphs = [line for line in ARTICLE.read_text().splitlines() if line.strip()]
    one = await open_page(f"{demo.url}/demo")
    two = await open_page(f"{demo.url}/demo", color_scheme="dark")
    await expect(one.locator("h1")).to_have_text(headline)
    await expect(one.locator("article.story p.lede, article.story .body p")).to_have_count(
        len(paragraphs)
    )
    await live(one)
    await live(two)
    # A thread that is not empty on first look, and count.js in the byline.
    await expect(one.locator("#comments .c-item")).to_have_count(3)
    await expect(one.locator("[data-comments-count]")).to_have_text("3")

    await write(one, "Watching this from Seoul with some worry.", name="Min")
    # Newest first (the default order): the live comment lands at the top.
    await expect(two.locator("#comments article.c-comment").first).to_contain_text(
        "Watching this from Seoul with some worry."
    )
    await write(two, "you are all idiots", name="Troll")
    await expect(two.locator("#comments .c-pending")).to_contain_text("Awaiting review")

    console = await open_page(f"{demo.url}/moderation")
    await console.locator("#token").fill(demo.token)
    await console.locator("#token").press("Enter")
    item = console.locator("#queue .item")
    await expect(item.locator(".text")).to_have_text("you are all idiots")
    await screenshot(console, "demo-console")
    await console.keyboard.press("a")
    await expect(one.locator("#comments article.c-comment").first).to_contain_text(
        "you are all idiots"
    )
    await expect(one.locator("#comments .c-count")).to_have_text("(5)")
    await one.locator("#comments").scroll_into_view_if_needed()
    await screenshot(one, "demo-light")
    await screenshot(two, "demo-dark")
    for page in (one, two, console):
        assert await page.evaluate("() => window.__csp") == []

    # Running it again keeps the thread and hands out a new token (the old one ends).
    await stop(demo.proc)
    again = await run_demo()
    assert again.token != demo.token
    async with httpx.AsyncClient(base_url=again.url) as http:
        old = await http.get(
            "/api/v1/moderation/me", headers={"Authorization": f"Bearer {demo.token}"}
        )
        new = await http.get(
            "/api/v1/moderation/me", headers={"Authorization": f"Bearer {again.token}"}
        )
        counts = await http.get("/api/v1/sites/demo/counts?article=2025/07/lavrov-kim")
    assert old.status_code == 401 and new.status_code == 200
    assert counts.json()["counts"]["2025/07/lavrov-kim"] == 5
