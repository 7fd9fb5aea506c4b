"""Links that would lie about where they go (issue 17, "Links"), in real Chromium: a
link's text names the host the browser will open. A host typed in another form than
the browser reads it (an IDN homograph, full-width dots, a numeric address, a
backslash) is shown as the browser reads it; a URL with user info
(``https://bank.example@evil.example``) does not become a link at all."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.widget.conftest import OpenPage, Stack, executed, live, screenshot

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_link_shows_the_host_it_opens(stack: Stack, open_page: OpenPage) -> None:
    await stack.add_site("lies")
    article = "2025/07/lies"
    body = (
        "Log in at https://\u0430pple.com/login or http://evil\uff0ecom/x, "
        "http://0x7f.1/admin, http://bank.example\\@evil.example/ "
        "and https://bank.example@evil.example/pay; fine: https://example.com/ok"
    )
    r = await stack.post("lies", article, body, name="Mal")
    assert r.status_code == 202, r.text  # links from a new author wait for a moderator
    token = await stack.moderator("lies", "lou")
    async with stack.client() as http:
        r = await http.post(
            f"/api/v1/moderation/comments/{r.json()['comment']['id']}/approve",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
    page = await open_page(stack.page("lies.html", site="lies", article=article))
    await live(page)
    links = page.locator("#comments .c-body a")
    await expect(links).to_have_count(5)
    shown = [
        (await links.nth(i).get_attribute("href"), await links.nth(i).text_content())
        for i in range(5)
    ]
    # Each link's text is its destination whenever what was typed reads otherwise.
    assert shown == [
        ("https://xn--pple-43d.com/login", "https://xn--pple-43d.com/login"),
        ("http://evil.com/x", "http://evil.com/x"),
        ("http://127.0.0.1/admin", "http://127.0.0.1/admin"),
        ("http://bank.example/@evil.example/", "http://bank.example/@evil.example/"),
        ("https://example.com/ok", "https://example.com/ok"),
    ]
    text = await page.locator("#comments .c-body").text_content()
    assert text is not None and "https://bank.example@evil.example/pay" in text
    assert await executed(page) == []
    await screenshot(page, "links-show-their-host")
