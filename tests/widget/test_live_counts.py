"""Live counts in real Chromium (issue 17, item 8): a partner page with several count.js
elements and the widget; a comment posted from another page raises them all without a
reload, and moderators' removals lower them, also of a comment the widget never loaded."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from comments.models import Comment, Status
from tests.widget.conftest import OpenPage, Stack, live, screenshot, write

pytestmark = pytest.mark.asyncio(loop_scope="module")

ARTICLE = "2025/07/live-counts"
OTHER = "2025/07/other-story"
QUIET = "2025/07/quiet-story"


def listing() -> str:
    """The partner's article list: counts of this article (twice) and of two others."""
    items = [(ARTICLE, "This story"), (OTHER, "Other story"), (QUIET, "Quiet story")]
    rows = "".join(
        f'<li>{title}: <span data-comments-count="{a}" id="count-{i}">…</span> comments</li>'
        for i, (a, title) in enumerate(items)
    )
    return (
        f'<p>Discussion: <span data-comments-count="{ARTICLE}" id="byline">…</span></p>'
        f"<ul>{rows}</ul>"
    )


async def stored(stack: Stack, site: str, article: str, n: int) -> list[Comment]:
    author, _ = await stack.node.store.create_guest(site, "Earlier")
    made = []
    for i in range(n):
        comment, _ = await stack.node.store.create_comment(
            site=site,
            article=article,
            author=author,
            body=f"earlier comment {i}",
            parent=None,
            status=Status.PUBLISHED,
        )
        made.append(comment)
    return made


async def counts_read(page: Page, *expected: str) -> None:
    await expect(page.locator("#byline")).to_have_text(expected[0])
    for i, text in enumerate(expected):
        await expect(page.locator(f"#count-{i}")).to_have_text(text)


async def test_count_js_and_the_widget_header_change_live(
    stack: Stack, open_page: OpenPage
) -> None:
    site = await stack.add_site("livecounts")
    # One more than the widget's first page: the oldest is never loaded by it.
    earlier = await stored(stack, site, ARTICLE, 51)
    await stored(stack, site, OTHER, 2)
    url = stack.page(
        "live-counts.html",
        site=site,
        article=ARTICLE,
        title="Live counts",
        before=listing(),
        count_js=True,
    )
    reader = await open_page(url)
    writer = await open_page(url)
    await live(reader)
    await live(writer)
    header = reader.locator("#comments .c-count")
    await counts_read(reader, "51", "2", "0")
    await expect(header).to_have_text("(51)")

    await write(writer, "Posted from another page.", name="Ana")
    await counts_read(reader, "52", "2", "0")
    await expect(header).to_have_text("(52)")
    r = await stack.post(site, OTHER, "On the other story.")
    assert r.status_code == 201, r.text
    await counts_read(reader, "52", "3", "0")
    await screenshot(reader, "live-counts-raised", full_page=False)

    token = await stack.moderator(site, "mia")
    async with stack.client() as http:
        posted = await http.get(f"/api/v1/sites/{site}/articles/{ARTICLE}/comments?order=newest")
        newest = posted.json()["comments"][0]
        assert newest["body"] == "Posted from another page."
        for comment_id, left in ((newest["id"], "51"), (earlier[0].id, "50")):
            r = await http.post(
                f"/api/v1/moderation/comments/{comment_id}/reject",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200, r.text
            await counts_read(reader, left, "3", "0")
            await expect(header).to_have_text(f"({left})")
    await expect(writer.locator("#comments .c-count")).to_have_text("(50)")
    await screenshot(reader, "live-counts-dropped", full_page=False)
