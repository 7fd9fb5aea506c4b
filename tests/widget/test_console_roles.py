"""The console's roles, settings page, article titles and the widget's quiet hours, in
real Chromium (docs/api.md, "Roles and scopes", "Site settings", "Quiet hours")."""

from __future__ import annotations

import html

import pytest
from playwright.async_api import Page, expect

from comments.store.webhooks import WebhookStore
from tests.widget.conftest import OpenPage, Stack, form_message, live, screenshot, write

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALWAYS = {
    "timezone": "Europe/Berlin",
    "windows": [
        {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start": "00:00",
            "end": "24:00",
        }
    ],
}


async def sign_in(console: Page, token: str) -> None:
    await console.locator("#token").fill(token)
    await console.get_by_role("button", name="Sign in").click()
    await expect(console.locator("#conn")).to_have_text("Live")


async def test_a_scoped_moderator_sees_only_its_section(stack: Stack, open_page: OpenPage) -> None:
    await stack.add_site("scoped")
    token = await stack.node.review.add_moderator("scoped", "sam", scopes=("sport/",))
    chief = await stack.moderator("scoped", "chief")
    r = await stack.post("scoped", "politics/budget", "you idiot politicians", name="Pol")
    assert r.status_code == 202, r.text
    politics_id = r.json()["comment"]["id"]
    r = await stack.post("scoped", "sport/derby", "you idiot referee", name="Fan")
    assert r.status_code == 202, r.text
    console = await open_page(f"{stack.url}/moderation")
    await sign_in(console, token)
    items = console.locator("#queue .item")
    await expect(items).to_have_count(1)
    await expect(items.locator(".article-id")).to_have_text("sport/derby")
    await expect(console.locator("#who-scopes")).to_contain_text("sport/")
    # Live: another section's comment never arrives; its own section's does.
    r = await stack.post("scoped", "politics/tax", "stupid moron minister", name="Pol2")
    assert r.status_code == 202, r.text
    r = await stack.post("scoped", "sport/cup", "stupid moron coach", name="Fan2")
    assert r.status_code == 202, r.text
    await expect(items).to_have_count(2)
    await expect(console.locator("#queue-live")).to_contain_text("waiting")
    texts = await items.locator(".article-id").all_text_contents()
    assert sorted(texts) == ["sport/cup", "sport/derby"]
    # No settings for a moderator.
    await expect(console.locator("#tab-settings")).to_have_count(0)
    await screenshot(console, "console-scoped")
    async with stack.client() as http:
        r = await http.post(
            f"/api/v1/moderation/comments/{politics_id}/reject",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 403, r.text
        full = await http.get(
            "/api/v1/moderation/sites/scoped/queue", headers={"Authorization": f"Bearer {chief}"}
        )
        assert len(full.json()["items"]) == 4


async def test_admin_changes_settings_and_the_audit_log_shows_it(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("admin-set")
    token = await stack.node.review.add_moderator("admin-set", "ada", role="admin")
    console = await open_page(f"{stack.url}/moderation")
    await sign_in(console, token)
    await console.locator("#queue-empty").click()  # focus leaves the sign-in form
    await console.keyboard.press("g")
    await console.keyboard.press("s")
    panel = console.locator("#settings-panel")
    await expect(panel).to_be_visible()
    await expect(console.locator("#set-reports_before_review")).to_have_value("3")
    await console.locator("#set-banned_words").fill("spamword\nscamword")
    await console.locator("#set-reports_before_review").fill("-2")
    await console.get_by_role("button", name="Save settings").click()
    await expect(console.locator("#settings-error")).to_contain_text("0 or more")
    await console.locator("#set-reports_before_review").fill("2")
    await expect(console.locator("#set-default_order")).to_have_value("newest")
    await console.locator("#set-default_order").select_option("top")
    await console.locator("#set-edit_window_s").fill("60")
    await console.get_by_role("button", name="Save settings").click()
    await expect(console.locator("#toast")).to_contain_text("Settings saved")
    await screenshot(console, "console-settings")
    await console.get_by_role("tab", name="Audit log").click()
    await expect(panel).to_be_hidden()
    row = console.locator("#audit tr").first
    await expect(row).to_contain_text("settings")
    await expect(row).to_contain_text("site:admin-set")
    await expect(row).to_contain_text("spamword")
    stored = await stack.node.store.get_site("admin-set")
    assert stored["banned_words"] == ["spamword", "scamword"]
    assert stored["reports_before_review"] == 2
    assert stored["default_order"] == "top" and stored["edit_window_s"] == 60


async def test_the_widget_names_the_page_and_the_console_links_it(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("titles")
    token = await stack.moderator("titles", "tia")
    canonical = f"{stack.partner.origin}/news/canonical-budget"
    url = stack.page(
        "titles.html",
        site="titles",
        article="2026/budget",
        title="Budget: what changes",
        before=f'<link rel="canonical" href="{html.escape(canonical)}">',
    )
    reader = await open_page(url)
    await live(reader)
    await write(reader, "you are an idiot", name="Reader")
    await expect(reader.locator("#comments .c-pending")).to_have_count(1)
    console = await open_page(f"{stack.url}/moderation")
    await sign_in(console, token)
    title = console.locator("#queue .item a.article-title")
    await expect(title).to_have_text("Budget: what changes")
    await expect(title).to_have_attribute("href", canonical)

    close = console.locator("#queue .item").get_by_role("button", name="Close article")
    # Closing an article asks first: cancelled, nothing happens; confirmed, it closes.
    await close.click()
    dialog = console.locator("#confirm-dialog")
    await expect(dialog).to_be_visible()
    await expect(console.locator("#confirm-text")).to_contain_text("Budget: what changes")
    await screenshot(console, "console-confirm-close")
    await console.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(console.locator("#queue .item .flag")).to_have_count(0)
    await close.click()
    await console.get_by_role("button", name="Close article", exact=True).last.click()
    await expect(console.locator("#queue .item .flag")).to_have_text("closed")
    await screenshot(console, "console-article-title")
    await console.locator("#queue .item").get_by_role("button", name="Reject").click()
    await expect(console.locator("#queue .item")).to_have_count(0)
    await console.get_by_role("tab", name="Audit log").click()
    decided = console.locator("#audit tr").first
    await expect(decided.locator("a.article-title")).to_have_text("Budget: what changes")
    await expect(decided.locator("a.article-title")).to_have_attribute("href", canonical)
    await screenshot(console, "console-audit-title")


async def test_quiet_hours_message_in_the_widget(stack: Stack, open_page: OpenPage) -> None:
    await stack.add_site("quiet", quiet_hours=ALWAYS)
    page = await open_page(stack.page("quiet.html", site="quiet", article="2026/night"))
    await live(page)
    await write(page, "hello at night", name="Owl")
    await expect(form_message(page)).to_contain_text("quiet hours")
    await expect(form_message(page)).to_contain_text("reopens")
    # The form stays (quiet hours end): the article is not shown as closed.
    await expect(page.locator("#comments .c-compose textarea")).to_have_count(1)
    await screenshot(page, "widget-quiet-hours")


async def test_admin_sees_the_webhooks_and_their_delivery_log(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("admin-hooks")
    # A receiver this host cannot reach: its messages stay pending, with the error kept.
    await WebhookStore(stack.node.store).add(
        "admin-hooks", "https://hooks.invalid/comments", ["comment.published"]
    )
    token = await stack.node.review.add_moderator("admin-hooks", "ada", role="admin")
    page = await open_page(stack.page("admin-hooks.html", site="admin-hooks", article="a1"))
    await live(page)
    await write(page, "A calm and friendly first comment", name="Ana")
    console = await open_page(f"{stack.url}/moderation")
    await sign_in(console, token)
    await console.get_by_role("tab", name="Settings").click()
    hooks = console.locator("#webhook-list li")
    await expect(hooks).to_have_count(1)
    await expect(hooks).to_contain_text("https://hooks.invalid/comments")
    await hooks.get_by_role("button", name="Delivery log of https://hooks.invalid/comments").click()
    row = console.locator("#webhook-log tr.delivery")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("comment.published")
    await screenshot(console, "console-webhooks")
