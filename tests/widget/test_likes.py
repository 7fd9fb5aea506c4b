"""Likes in the widget, in real Chromium (issue 17): a reader likes a comment and
another open page shows the new count live; a reader without identity cannot like."""

from __future__ import annotations

import pytest
from playwright.async_api import Locator, Page, expect

from tests.widget.conftest import OpenPage, Stack, live, screenshot, write

pytestmark = pytest.mark.asyncio(loop_scope="module")


def like(page: Page, text: str) -> Locator:
    art = page.locator("#comments article.c-comment", has_text=text).first
    return art.locator("button.c-like")


async def test_a_like_shows_live_on_another_page(stack: Stack, open_page: OpenPage) -> None:
    await stack.add_site("likes")
    article = "2025/07/likes"
    url = stack.page("likes.html", site="likes", article=article, title="Likes")
    ana = await open_page(url)
    ben = await open_page(url)
    await live(ana)
    await live(ben)
    await write(ana, "Worth a like, I hope.", name="Ana")
    await expect(like(ben, "Worth a like")).to_have_text("\u2661 Like")
    await expect(like(ben, "Worth a like")).to_be_disabled()  # no identity yet

    await like(ana, "Worth a like").click()
    await expect(like(ana, "Worth a like")).to_have_text("\u2665 Liked \u00b7 1")
    await expect(like(ben, "Worth a like")).to_have_text("\u2661 Like \u00b7 1")
    await screenshot(ben, "likes-live")

    await write(ben, "Agreed.", name="Ben")  # Ben now has a guest token
    await expect(like(ben, "Worth a like")).to_be_enabled()
    await like(ben, "Worth a like").click()
    await expect(like(ben, "Worth a like")).to_have_text("\u2665 Liked \u00b7 2")
    await expect(like(ana, "Worth a like")).to_have_text("\u2665 Liked \u00b7 2")
    await like(ana, "Worth a like").click()  # unlike
    await expect(like(ana, "Worth a like")).to_have_text("\u2661 Like \u00b7 1")
    await expect(like(ben, "Worth a like")).to_have_text("\u2665 Liked \u00b7 1")
    await screenshot(ana, "likes-unliked")
