"""Issue 17 in the widget, in real Chromium: edits (live, with "edited"; toxic ones
withdrawn and queued), links in bodies, permalinks deep in a long thread, tombstones
after a reload, nested replies to the site's depth and long reply lists collapsed."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect

from comments.models import Status
from tests.widget.conftest import OpenPage, Stack, bodies, executed, live, screenshot, write

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOXIC = "you are a fucking idiot"  # the bundled model scores it about 1.0
JSON = {"Content-Type": "application/json"}


def comment(page: Page, text: str) -> Locator:
    return page.locator("#comments article.c-comment", has_text=text).first


async def posted(stack: Stack, site: str, article: str, body: str, **kw: Any) -> dict[str, Any]:
    r = await stack.post(site, article, body, **kw)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def test_an_edit_appears_live_and_a_toxic_one_is_withdrawn_and_queued(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("edits")
    token = await stack.moderator("edits", "mia")
    article = "2025/07/edits"
    url = stack.page("edits.html", site="edits", article=article, title="Edits")
    ana = await open_page(url)
    ben = await open_page(url)
    await live(ana)
    await live(ben)
    await write(ana, "The meeting was on Tuesdya.", name="Ana")
    await expect(ben.locator("#comments .c-body")).to_have_text(["The meeting was on Tuesdya."])
    # Only the author may edit: Ben has no Edit button.
    await expect(comment(ben, "Tuesdya").get_by_role("button", name="Edit")).to_have_count(0)

    own = comment(ana, "Tuesdya")
    await own.get_by_role("button", name="Edit").click()
    form = ana.locator("#comments .c-slot form")
    await expect(form.locator("textarea[name=body]")).to_have_value("The meeting was on Tuesdya.")
    await form.locator("textarea[name=body]").fill("The meeting was on Tuesday.")
    await form.get_by_role("button", name="Save").click()
    await expect(ben.locator("#comments .c-body")).to_have_text(["The meeting was on Tuesday."])
    await expect(comment(ben, "Tuesday").locator(".c-edited")).to_be_visible()
    await expect(comment(ana, "Tuesday").locator(".c-edited")).to_have_text("edited")
    await expect(ben.locator("#comments h2")).to_contain_text("(1)")
    await screenshot(ben, "threads-edited-live")

    # A reload shows the edited text and the mark too.
    await ben.reload()
    await live(ben)
    await expect(comment(ben, "Tuesday").locator(".c-edited")).to_be_visible()

    # An edit that turns toxic: withdrawn from Ben's page live, queued for moderators;
    # Ana still sees it, awaiting review.
    await comment(ana, "Tuesday").get_by_role("button", name="Edit").click()
    await form.locator("textarea[name=body]").fill(TOXIC)
    await form.get_by_role("button", name="Save").click()
    await expect(ben.locator("#comments .c-item")).to_have_count(0)
    await expect(ben.locator("#comments h2")).not_to_contain_text("(1)")
    mine = comment(ana, TOXIC)
    await expect(mine.locator(".c-badge.c-held")).to_be_visible()
    await expect(mine.locator(".c-msg.c-info")).to_contain_text("awaiting review")
    async with stack.client() as http:
        r = await http.get(
            "/api/v1/moderation/sites/edits/queue", headers={"Authorization": f"Bearer {token}"}
        )
        (item,) = r.json()["items"]
        assert item["body"] == TOXIC and item["status"] == "held"
        r = await http.get(
            f"/api/v1/moderation/comments/{item['id']}/versions",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert [v["body"] for v in r.json()["versions"]] == [
            "The meeting was on Tuesdya.",
            "The meeting was on Tuesday.",
        ]
    await screenshot(ana, "threads-toxic-edit-author")
    await screenshot(ben, "threads-toxic-edit-reader")

    # The console shows the held edit and, on demand, the texts it replaced.
    console = await open_page(f"{stack.url}/moderation")
    await console.locator("#token").fill(token)
    await console.locator("#token").press("Enter")
    await expect(console.locator("#queue .item")).to_have_count(1)
    await console.locator("#queue .item .versions summary").click()
    await expect(console.locator("#queue .item .versions li")).to_have_text(
        ["The meeting was on Tuesdya.", "The meeting was on Tuesday."]
    )
    await screenshot(console, "threads-console-versions")


async def test_links_in_bodies_are_safe_links(stack: Stack, open_page: OpenPage) -> None:
    await stack.add_site("links")
    article = "2025/07/links"
    long_url = "https://example.com/articles/2025/07/" + "a-very-long-slug-" * 6 + "end?x=1"
    body = (
        f"See https://example.com/report (the report), also {long_url}. "
        "Wikipedia: https://en.wikipedia.org/wiki/Tea_(meal)! "
        "Not these: javascript:alert(1) JAVASCRIPT:alert(2) javascript&colon;alert(3) "
        "data:text/html,<script>alert(4)</script> vbscript:x "
        "\uff48\uff54\uff54\uff50://full-width.example <b>bold</b>"
    )
    # A link from a new author waits for a moderator (the policy), then goes live.
    r = await stack.post("links", article, body, name="Lin")
    assert r.status_code == 202, r.text
    token = await stack.moderator("links", "lou")
    async with stack.client() as http:
        r = await http.post(
            f"/api/v1/moderation/comments/{r.json()['comment']['id']}/approve",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
    page = await open_page(stack.page("links.html", site="links", article=article))
    await live(page)
    links = page.locator("#comments .c-body a")
    await expect(links).to_have_count(3)
    hrefs = [await links.nth(i).get_attribute("href") for i in range(3)]
    assert hrefs == [
        "https://example.com/report",
        long_url,
        "https://en.wikipedia.org/wiki/Tea_(meal)",
    ]
    for i in range(3):
        assert await links.nth(i).get_attribute("rel") == "nofollow ugc noopener noreferrer"
        assert await links.nth(i).get_attribute("target") == "_blank"
    shown = await links.nth(1).text_content()
    assert shown is not None and len(shown) <= 60 and shown.endswith("end?x=1")
    assert await links.nth(1).get_attribute("title") == long_url
    text = await page.locator("#comments .c-body").text_content()
    assert text == body.replace(long_url, shown)
    assert text is not None and "<b>bold</b>" in text and "javascript&colon;alert(3)" in text
    assert await page.locator("#comments .c-body b").count() == 0
    assert await executed(page) == []
    await screenshot(page, "threads-links")


async def test_a_permalink_opens_a_comment_500_deep(stack: Stack, open_page: OpenPage) -> None:
    await stack.add_site("deep")
    article = "2025/07/deep"
    store = stack.node.store
    author, _ = await store.create_guest("deep", "Seeder")
    ids = []
    for i in range(600):  # the same store the server writes with: no HTTP per comment
        c, _ = await store.create_comment(
            site="deep",
            article=article,
            author=author,
            body=f"Deep comment {i:03d}",
            parent=None,
            status=Status.PUBLISHED,
        )
        ids.append(c.id)
    target = ids[99]  # 500 comments newer than it
    url = stack.page(
        "deep.html",
        site="deep",
        article=article,
        before="<p>" + "An article paragraph. " * 300 + "</p>",
    )
    page = await open_page(f"{url}#comment-{target}")
    await live(page)
    shown = page.locator("#comments .c-target article.c-comment")
    await expect(shown).to_have_count(1)
    await expect(shown).to_contain_text("Deep comment 099")
    await expect(shown).to_be_in_viewport()
    await expect(shown).to_be_focused()
    # Its neighbours, and the way to either end of the thread.
    texts = await bodies(page)
    assert texts[0] == "Deep comment 074" and texts[-1] == "Deep comment 124"
    await expect(page.get_by_role("button", name="Load older comments")).to_be_visible()
    await expect(page.get_by_role("button", name="Load newer comments")).to_be_visible()
    await screenshot(page, "threads-permalink-500-deep", full_page=False)
    await page.get_by_role("button", name="Load newer comments").click()
    await expect(page.locator("#comments .c-item")).to_have_count(101)
    # Each comment links to its own permalink on the article page.
    href = await comment(page, "Deep comment 110").locator("a.c-perma").get_attribute("href")
    assert href == f"#comment-{ids[110]}"


async def test_a_removed_parent_stays_a_tombstone_after_reload(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("tombs")
    article = "2025/07/tombs"
    parent = await posted(stack, "tombs", article, "A parent with a secret.", name="Pat")
    reply = await posted(
        stack, "tombs", article, "A reply to it.", name="Rae", parent=parent["comment"]["id"]
    )
    url = stack.page("tombs.html", site="tombs", article=article)
    page = await open_page(url)
    await live(page)
    async with stack.client() as http:
        r = await http.delete(
            f"/api/v1/sites/tombs/articles/{article}/comments/{parent['comment']['id']}",
            headers={"X-Comments-Guest": parent["guest_token"], **JSON},
        )
        assert r.status_code == 200
    await expect(page.locator("#comments .c-body")).to_have_text(
        ["This comment was removed.", "A reply to it."]
    )
    await page.reload()
    await live(page)
    await expect(page.locator("#comments .c-body")).to_have_text(
        ["This comment was removed.", "A reply to it."]
    )
    await expect(page.locator("#comments .c-item .c-replies .c-body")).to_have_text(
        ["A reply to it."]
    )
    assert "Pat" not in (await page.locator("#comments").inner_text())
    await screenshot(page, "threads-tombstone-after-reload")
    # The last reply goes: so does the tombstone, live.
    async with stack.client() as http:
        r = await http.delete(
            f"/api/v1/sites/tombs/articles/{article}/comments/{reply['comment']['id']}",
            headers={"X-Comments-Guest": reply["guest_token"], **JSON},
        )
        assert r.status_code == 200
    await expect(page.locator("#comments .c-item")).to_have_count(0)


async def test_replies_nest_to_the_sites_depth_and_long_lists_collapse(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("nest", reply_depth=2)
    article = "2025/07/nest"
    top = (await posted(stack, "nest", article, "Level zero.", name="Zed"))["comment"]
    one = await posted(stack, "nest", article, "Level one.", name="Uno", parent=top["id"])
    two = await posted(
        stack, "nest", article, "Level two.", name="Duo", parent=one["comment"]["id"]
    )
    await posted(stack, "nest", article, "Level three.", name="Tri", parent=two["comment"]["id"])
    many = (await posted(stack, "nest", article, "Popular.", name="Pop"))["comment"]
    for i in range(8):
        await posted(stack, "nest", article, f"Answer {i}.", name=f"A{i}", parent=many["id"])
    page = await open_page(stack.page("nest.html", site="nest", article=article))
    await live(page)
    # Level three sits beside level two (the deepest level), addressed to its parent.
    deep = page.locator("#comments .c-replies .c-replies > .c-item")
    await expect(deep).to_have_count(2)
    await expect(comment(page, "Level three.").locator(".c-to")).to_have_text("@Duo")
    # Eight answers: three shown, the rest behind a button.
    await expect(comment(page, "Answer 2.")).to_be_visible()
    await expect(comment(page, "Answer 3.")).to_be_hidden()
    more = page.get_by_role("button", name="Show 5 more replies")
    await expect(more).to_be_visible()
    await screenshot(page, "threads-nesting-collapsed")
    await more.click()
    await expect(comment(page, "Answer 7.")).to_be_visible()
    await expect(more).to_have_count(0)
