"""The moderator console at /moderation, in real Chromium, against a live partner page."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.widget.conftest import OpenPage, Stack, live, screenshot, write

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def sign_in(console: Page, token: str) -> None:
    await console.locator("#token").fill(token)
    await console.get_by_role("button", name="Sign in").click()
    await expect(console.locator("#conn")).to_have_text("Live")


async def csp_violations(page: Page) -> list[str]:
    found: list[str] = await page.evaluate("() => window.__csp")
    return found


async def test_approving_in_the_console_publishes_live_on_the_partner_page(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("mod-live")
    alice = await stack.moderator("mod-live", "alice")
    bob = await stack.moderator("mod-live", "bob")
    article = "2025/07/mod-live"
    url = stack.page("mod-live.html", site="mod-live", article=article)
    reader = await open_page(url)
    author = await open_page(url)
    console = await open_page(f"{stack.url}/moderation")
    second = await open_page(f"{stack.url}/moderation", color_scheme="dark")
    await sign_in(console, alice)
    await sign_in(second, bob)
    await expect(console.locator("#queue-empty")).to_be_visible()
    await live(reader)
    await live(author)

    await write(author, "you are an idiot and a liar", name="Troll")
    await expect(author.locator("#comments .c-pending")).to_have_count(1)
    # It lands in both consoles live, with its scores, reasons and author.
    item = console.locator("#queue .item")
    await expect(item).to_have_count(1)
    await expect(second.locator("#queue .item")).to_have_count(1)
    await expect(item.locator(".text")).to_have_text("you are an idiot and a liar")
    await expect(item.locator(".author")).to_have_text("Troll")
    await expect(item.locator(".article-id")).to_have_text(article)
    await expect(item.locator(".score .label")).to_have_text(["profanity"])
    meter = item.get_by_role("meter", name="profanity score")
    assert float(await meter.get_attribute("aria-valuenow") or 0) > 0.5
    await expect(item.locator(".reasons li").first).to_have_text("profanity 1.00 \u2265 0.50")
    await expect(console.locator("#queue-count")).to_have_text("1")
    await expect(reader.locator("#comments .c-item")).to_have_count(0)
    await screenshot(console, "console-queue-light")
    await screenshot(second, "console-queue-dark")

    await item.get_by_role("button", name="Approve").click()
    await expect(reader.locator("#comments .c-body")).to_have_text(["you are an idiot and a liar"])
    await expect(console.locator("#toast")).to_contain_text("Approved")
    # The other moderator's queue empties at once, and they are told why.
    await expect(second.locator("#queue .item")).to_have_count(0)
    await expect(second.locator("#toast")).to_contain_text("Another moderator")
    await expect(author.locator("#comments .c-pending")).to_have_count(0)

    # A rejection withdraws a published comment from open pages: report, then reject.
    await stack.set_site("mod-live", reports_before_review=1)
    target = reader.locator("#comments article.c-comment")
    await target.get_by_role("button", name="Report").click()
    await target.get_by_role("button", name="Send report").click()
    await expect(console.locator("#queue .item .status.reports")).to_have_text("1 report")
    await console.locator("#queue .item").get_by_role("button", name="Reject").click()
    await expect(reader.locator("#comments .c-item")).to_have_count(0)
    await expect(second.locator("#queue .item")).to_have_count(0)

    for page in (console, second):
        assert await csp_violations(page) == []


async def test_keyboard_only_moderation(stack: Stack, open_page: OpenPage) -> None:
    await stack.add_site("mod-keys")
    token = await stack.moderator("mod-keys", "kai")
    article = "2025/07/mod-keys"
    guests = {}
    for name, body in (("Ann", "you idiot"), ("Bo", "shut up moron"), ("Cy", "stupid fools")):
        r = await stack.post("mod-keys", article, body, name=name)
        assert r.status_code == 202, r.text
        guests[body] = (r.json()["guest_token"], r.json()["comment"]["id"])
    reader = await open_page(stack.page("mod-keys.html", site="mod-keys", article=article))
    await live(reader)

    console = await open_page(f"{stack.url}/moderation")
    # Sign in with the keyboard alone: the token field has the focus on arrival.
    await expect(console.locator("#token")).to_be_focused()
    await console.keyboard.type(token)
    await console.keyboard.press("Enter")
    await expect(console.locator("#conn")).to_have_text("Live")
    items = console.locator("#queue .item")
    await expect(items).to_have_count(3)
    order = await console.locator("#queue .item .text").all_text_contents()
    selected = console.locator("#queue .item.selected .text")
    await expect(selected).to_have_text(order[0])
    await expect(console.locator("#queue .item.selected")).to_be_focused()

    await console.keyboard.press("j")
    await expect(selected).to_have_text(order[1])
    await console.keyboard.press("j")
    await expect(selected).to_have_text(order[2])
    await console.keyboard.press("k")
    await expect(selected).to_have_text(order[1])
    await expect(console.locator("#queue .item.selected")).to_be_focused()

    await console.keyboard.press("a")  # approve the second one
    await expect(items).to_have_count(2)
    await expect(reader.locator("#comments .c-body")).to_have_text([order[1]])
    await expect(selected).to_have_text(order[2])
    await console.keyboard.press("r")  # reject the third
    await expect(items).to_have_count(1)
    await expect(selected).to_have_text(order[0])

    await console.keyboard.press("c")  # close the article: asks first
    await expect(console.locator("#confirm-ok")).to_be_focused()
    await console.keyboard.press("Enter")
    await expect(console.locator("#queue .item .flag")).to_have_text("closed")
    await console.keyboard.press("b")  # ban the first one's author (and reject it)
    await expect(console.locator("#ban-reason")).to_be_focused()
    await console.keyboard.press("Enter")
    await expect(items).to_have_count(0)
    await expect(console.locator("#queue-empty")).to_be_visible()

    async with stack.client() as http:
        auth = {"Authorization": f"Bearer {token}"}
        queue = await http.get("/api/v1/moderation/sites/mod-keys/queue", headers=auth)
        assert queue.json()["items"] == []  # nothing left held
        thread = await http.get(f"/api/v1/sites/mod-keys/articles/{article}/comments")
        assert [c["body"] for c in thread.json()["comments"]] == [order[1]]
        banned_token = guests[order[0]][0]
        r = await http.post(
            f"/api/v1/sites/mod-keys/articles/{article}/comments",
            json={"body": "let me back in", "author_name": "x"},
            headers={"X-Comments-Guest": banned_token},
        )
        assert r.json()["error"]["code"] == "banned"
        config = await http.get(f"/api/v1/sites/mod-keys/config?article={article}")
        assert config.json()["closed"] is True

    await console.get_by_role("tab", name="Audit log").click()
    actions = console.locator("#audit tr td:nth-child(3)")
    await expect(actions).to_have_text(["reject", "ban", "article", "reject", "approve"])
    await expect(console.locator("#audit tr").first.locator("td").nth(1)).to_have_text("kai")
    await screenshot(console, "console-audit")


async def test_console_keeps_its_token_out_of_urls_and_in_this_tab_only(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("mod-auth")
    token = await stack.moderator("mod-auth", "tess")
    console = await open_page()
    sockets: list[str] = []
    console.on("websocket", lambda ws: sockets.append(ws.url))
    await console.goto(f"{stack.url}/moderation")
    await screenshot(console, "console-sign-in", full_page=False)

    await console.locator("#token").fill("mod_not-a-real-token")
    await console.get_by_role("button", name="Sign in").click()
    await expect(console.get_by_role("alert")).to_have_text(
        "This token is not valid or was revoked."
    )
    await sign_in(console, token)
    await expect(console.locator("#who-name")).to_have_text("tess")
    await expect(console.locator("#who-site")).to_have_text("mod-auth")
    assert len(sockets) == 1 and "ticket=" in sockets[0] and token not in sockets[0]
    assert await console.evaluate("() => sessionStorage.length") == 1
    assert await console.evaluate("() => localStorage.length") == 0

    await console.reload()  # same tab: still signed in, with a fresh ticket
    await expect(console.locator("#conn")).to_have_text("Live")
    assert len(sockets) == 2 and sockets[0] != sockets[1]
    other_tab = await open_page(f"{stack.url}/moderation")  # another browser: signed out
    await expect(other_tab.locator("#token")).to_be_visible()

    await console.get_by_role("button", name="Sign out").click()
    await expect(console.locator("#token")).to_be_visible()
    assert await console.evaluate("() => sessionStorage.length") == 0
    assert await csp_violations(console) == []


async def test_a_revoked_moderator_is_signed_out_of_an_open_console(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("mod-revoke")
    await stack.moderator("mod-revoke", "carol")
    token = await stack.moderator("mod-revoke", "dave")
    console = await open_page(f"{stack.url}/moderation")
    await sign_in(console, token)
    assert await stack.node.review.revoke_moderator("mod-revoke", "dave")
    # The server closes the socket; the console does not keep showing the queue.
    await expect(console.locator("#signin")).to_be_visible()
    await expect(console.locator("#console")).to_be_hidden()
    await expect(console.locator("#signin-error")).to_contain_text("no longer valid")
    await stack.post("mod-revoke", "a1", "you are an idiot and a liar")
    await expect(console.locator("#queue .item")).to_have_count(0)


async def test_the_console_says_the_bundled_model_misses_threats(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("mod-banner")
    carol = await stack.moderator("mod-banner", "carol")
    console = await open_page(f"{stack.url}/moderation")
    await sign_in(console, carol)
    banner = console.get_by_role("status").filter(has_text="profanity model only")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("comments model install")
    assert await csp_violations(console) == []
