"""The console's panels in real Chromium (moderation-panels.js): an item expands to its
thread, the author panel shows history and notes, a published comment nobody reported is
found by a word and taken down (gone live from an open reader page), a ban is lifted
from the ban list. Screenshots go to test-artifacts/widget/."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.widget.conftest import OpenPage, Stack, live, screenshot, write
from tests.widget.test_console import csp_violations, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_context_author_search_takedown_and_unban(stack: Stack, open_page: OpenPage) -> None:
    await stack.add_site("mod-panels")
    token = await stack.moderator("mod-panels", "alice")
    article = "2025/08/harbour"
    url = stack.page("mod-panels.html", site="mod-panels", article=article)
    reader = await open_page(url)
    author = await open_page(url)
    console = await open_page(f"{stack.url}/moderation")
    await sign_in(console, token)
    await live(reader)
    await live(author)

    await write(author, "The harbour plan is a fine idea", name="Marta")
    await expect(reader.locator("#comments .c-body")).to_have_text(
        ["The harbour plan is a fine idea"]
    )
    await write(author, "you are an idiot and a liar")
    item = console.locator("#queue .item")
    await expect(item).to_have_count(1)

    # The item expands to its thread: the comment before it, the article's state.
    await item.get_by_role("button", name="Show the thread around this comment").click()
    drawer = console.locator("#drawer")
    await expect(drawer.locator(".thread li")).to_have_count(2)
    await expect(drawer.locator(".thread li").first).to_contain_text("harbour plan")
    await expect(drawer.locator(".article")).to_contain_text("1 published")
    await screenshot(console, "console-context")

    # The author panel: history with decisions, notes added and listed.
    await item.get_by_role("button", name="Show this author").click()
    await expect(drawer.locator("h3")).to_have_text("Marta")
    await expect(drawer.locator(".counts")).to_contain_text("1 published · 1 held")
    await expect(drawer.locator(".history li")).to_have_count(2)
    await drawer.get_by_role("textbox", name="New note on this author").fill("first warning")
    await drawer.get_by_role("button", name="Add note").click()
    await expect(drawer.locator(".notes li")).to_contain_text(["first warning — alice"])
    await screenshot(console, "console-author")

    # Search and takedown: found by one word, rejected, gone from the open reader page.
    await console.locator("#search-q").fill("harbour")
    await console.get_by_role("button", name="Search", exact=True).click()
    found = console.locator("#search-results li.result")
    await expect(found).to_have_count(1)
    await expect(found.locator(".text")).to_have_text("The harbour plan is a fine idea")
    await found.locator(".pick").check()
    await console.get_by_role("button", name="Reject selected").click()
    await expect(found.locator(".status")).to_have_text("rejected")
    await expect(reader.locator("#comments .c-item")).to_have_count(0)
    await screenshot(console, "console-search-takedown")
    # The audit log says which comment, not only its id.
    await console.locator("#tab-audit").click()
    await expect(console.locator("#audit .about").first).to_contain_text("harbour plan")
    await screenshot(console, "console-audit-excerpts")
    await console.locator("#tab-queue").click()

    # The ban list: a ban made elsewhere is lifted from here.
    author_id = await item.locator(".author-id").text_content()
    async with stack.client() as http:
        r = await http.post(
            f"/api/v1/moderation/sites/mod-panels/authors/{author_id}/ban",
            json={"reason": "abuse"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
    await console.get_by_role("button", name="Show ban list").click()
    bans = console.locator("#ban-list li")
    await expect(bans).to_have_count(1)
    await expect(bans).to_contain_text("Marta")
    await screenshot(console, "console-ban-list")
    await bans.get_by_role("button", name="Lift the ban of Marta").click()
    await expect(bans).to_have_count(0)
    await expect(console.locator("#bans-empty")).to_be_visible()
    async with stack.client() as http:
        r = await http.get(
            "/api/v1/moderation/sites/mod-panels/bans",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.json()["bans"] == []
    assert await csp_violations(console) == []
