"""The widget's sort control (issue 17), in real Chromium: Newest / Oldest / Top on a
1,000-comment thread (the newest comment in view without scrolling in newest order), the
site's default order and the reader's pick for the page session; a live comment lands at
the top (newest), at the bottom (oldest) or in a "N new comments" chip (top); replies stay
under their parents in every order; the reader's likes survive a reload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from playwright.async_api import Locator, Page, expect

from comments.models import Status
from comments.store.reactions import ReactionStore
from tests.widget.conftest import OpenPage, Stack, bodies, live, screenshot, write

pytestmark = pytest.mark.asyncio(loop_scope="module")

THREAD = 1000
# Comment number → likes: what order=top puts first (ties: newest first).
LIKED = {500: 3, 10: 2, 900: 1, 20: 1}
TOP_FIRST = ["Comment 0500", "Comment 0010", "Comment 0900", "Comment 0020", "Comment 0999"]


@dataclass
class Thread:
    site: str
    article: str
    ids: list[str]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def thousand(stack: Stack) -> AsyncIterator[Thread]:
    """A 1,000-comment thread, seeded through the store the server reads (no HTTP per
    comment), with a few likes for order=top."""
    await stack.add_site("sorted")
    article = "2025/07/a-thousand-comments"
    store = stack.node.store
    author, _ = await store.create_guest("sorted", "Seeder")
    ids = []
    for i in range(THREAD):
        c, _ = await store.create_comment(
            site="sorted",
            article=article,
            author=author,
            body=f"Comment {i:04d}",
            parent=None,
            status=Status.PUBLISHED,
        )
        ids.append(c.id)
    reactions = ReactionStore(store)
    for number, likes in LIKED.items():
        for reader in range(likes):
            done = await reactions.react("sorted", article, ids[number], f"sorted:r{reader}", True)
            assert done is not None
    yield Thread("sorted", article, ids)


def sort_button(page: Page, name: str) -> Locator:
    return page.get_by_role("group", name="Sort comments").get_by_role("button", name=name)


def comment(page: Page, text: str) -> Locator:
    return page.locator("#comments article.c-comment", has_text=text).first


async def shows_order(page: Page, name: str) -> None:
    for other in ("Newest", "Oldest", "Top"):
        pressed = "true" if other == name else "false"
        await expect(sort_button(page, other)).to_have_attribute("aria-pressed", pressed)


async def first_bodies(page: Page, n: int) -> list[str]:
    return (await bodies(page))[:n]


async def test_the_three_orders_on_a_thousand_comments(
    stack: Stack, open_page: OpenPage, thousand: Thread
) -> None:
    url = stack.page(
        "sorted.html",
        site=thousand.site,
        article=thousand.article,
        title="A thousand comments",
        before="<p>" + "A short lede. " * 12 + "</p>",
    )
    page = await open_page(url)
    await live(page)
    # Newest (the site's default): the newest comment first, in view without scrolling.
    await shows_order(page, "Newest")
    await expect(page.locator("#comments .c-list > .c-item")).to_have_count(50)
    assert await first_bodies(page, 2) == ["Comment 0999", "Comment 0998"]
    assert await page.evaluate("() => window.scrollY") == 0
    await expect(comment(page, "Comment 0999")).to_be_in_viewport()
    await expect(page.locator("#comments .c-count")).to_have_text("(1000)")
    await screenshot(page, "sorting-newest-1000", full_page=False)
    # "Load more" (older) is below the list.
    more = page.get_by_role("button", name="Load more comments")
    await more.click()
    await expect(page.locator("#comments .c-list > .c-item")).to_have_count(100)
    assert (await bodies(page))[-1] == "Comment 0900"

    await sort_button(page, "Oldest").click()
    await shows_order(page, "Oldest")
    await expect(page.locator("#comments .c-list > .c-item")).to_have_count(50)
    assert await first_bodies(page, 2) == ["Comment 0000", "Comment 0001"]
    assert (await bodies(page))[-1] == "Comment 0049"
    newer = page.get_by_role("button", name="Load newer comments")
    await expect(newer).to_be_visible()
    await screenshot(page, "sorting-oldest-1000", full_page=False)
    await newer.click()
    await expect(page.locator("#comments .c-list > .c-item")).to_have_count(100)
    assert (await bodies(page))[-1] == "Comment 0099"

    await sort_button(page, "Top").click()
    await shows_order(page, "Top")
    await expect(page.locator("#comments .c-list > .c-item")).to_have_count(50)
    assert await first_bodies(page, len(TOP_FIRST)) == TOP_FIRST
    await expect(comment(page, "Comment 0500").locator("button.c-like")).to_have_text(
        "\u2661 Like \u00b7 3"
    )
    await screenshot(page, "sorting-top-1000", full_page=False)
    await page.get_by_role("button", name="Load more comments").click()
    await expect(page.locator("#comments .c-list > .c-item")).to_have_count(100)
    texts = await bodies(page)
    assert len(set(texts)) == 100 and texts[-1] == "Comment 0904"  # keyset: none twice

    # The pick lasts the page session: a reload opens in Top again.
    await page.reload()
    await live(page)
    await shows_order(page, "Top")
    assert await first_bodies(page, len(TOP_FIRST)) == TOP_FIRST
    # The control works from the keyboard: buttons in the tab order.
    await sort_button(page, "Newest").focus()
    await page.keyboard.press("Enter")
    await shows_order(page, "Newest")
    await expect(page.locator("#comments .c-body").first).to_have_text("Comment 0999")
    await sort_button(page, "Oldest").focus()
    await page.keyboard.press("Space")
    await shows_order(page, "Oldest")
    await expect(page.locator("#comments .c-body").first).to_have_text("Comment 0000")

    # Oldest first on a thread not read to its end: a live comment waits after the pages
    # not loaded yet (it is counted, not put in the middle of the thread).
    await live(page)
    r = await stack.post(thousand.site, thousand.article, "Comment 1000, live", name="Late")
    assert r.status_code == 201, r.text
    await expect(page.locator("#comments .c-count")).to_have_text("(1001)")
    await expect(comment(page, "Comment 1000, live")).to_have_count(0)


async def test_the_sites_default_order_is_where_the_widget_opens(
    stack: Stack, open_page: OpenPage, thousand: Thread
) -> None:
    await stack.set_site(thousand.site, default_order="top")
    try:
        page = await open_page(
            stack.page("sorted-top.html", site=thousand.site, article=thousand.article)
        )
        await live(page)
        await shows_order(page, "Top")
        # The liked ones (the first test's live comment is newer than 0999: not compared).
        assert await first_bodies(page, 4) == TOP_FIRST[:4]
    finally:
        await stack.set_site(thousand.site, default_order="newest")


async def test_a_live_comment_lands_where_each_order_puts_it(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("landing")
    article = "2025/07/landing"
    first = await stack.post("landing", article, "An early comment.", name="Ann")
    parent = first.json()["comment"]["id"]
    await stack.post("landing", article, "A reply to Ann.", name="Rob", parent=parent)
    await stack.post("landing", article, "A later comment.", name="Lee")
    url = stack.page("landing.html", site="landing", article=article, title="Landing")
    pages: dict[str, Page] = {}
    for name in ("Newest", "Oldest", "Top"):
        page = pages[name] = await open_page(url)
        await live(page)
        if name != "Newest":
            await sort_button(page, name).click()
            await shows_order(page, name)
        await live(page)
        # Replies stay under their parents in every order.
        ann = comment(page, "An early comment.").locator("xpath=..")  # its list item
        await expect(ann.locator(".c-replies .c-body")).to_have_text(["A reply to Ann."])
    firsts = "#comments .c-list > .c-item > article .c-body"
    await expect(pages["Newest"].locator(firsts)).to_have_text(
        ["A later comment.", "An early comment."]
    )
    await expect(pages["Oldest"].locator(firsts)).to_have_text(
        ["An early comment.", "A later comment."]
    )

    r = await stack.post("landing", article, "Breaking: a live one.", name="Liv")
    assert r.status_code == 201, r.text
    # Newest: at the top. Oldest: at the bottom, after the loaded pages.
    await expect(pages["Newest"].locator("#comments .c-body").first).to_have_text(
        "Breaking: a live one."
    )
    await expect(pages["Oldest"].locator("#comments .c-body").last).to_have_text(
        "Breaking: a live one."
    )
    # Top: counted in a chip, not inserted; clicking it shows it, at the top.
    top = pages["Top"]
    chip = top.get_by_role("button", name="1 new comment")
    await expect(chip).to_be_visible()
    await expect(comment(top, "Breaking: a live one.")).to_have_count(0)
    await expect(top.locator("#comments .c-count")).to_have_text("(4)")
    await screenshot(top, "sorting-top-chip")
    await chip.click()
    await expect(top.locator("#comments .c-body").first).to_have_text("Breaking: a live one.")
    await expect(comment(top, "Breaking: a live one.")).to_be_focused()
    await expect(chip).to_be_hidden()
    await screenshot(pages["Newest"], "sorting-newest-live")
    await screenshot(pages["Oldest"], "sorting-oldest-live")


async def test_the_readers_likes_survive_a_reload(stack: Stack, open_page: OpenPage) -> None:
    await stack.add_site("relike")
    article = "2025/07/relike"
    await stack.post("relike", article, "Worth liking.", name="Ann")
    page = await open_page(stack.page("relike.html", site="relike", article=article))
    await live(page)
    await write(page, "Me too.", name="Ben")  # Ben now has a guest identity
    like = comment(page, "Worth liking.").locator("button.c-like")
    await expect(like).to_be_enabled()
    await like.click()
    await expect(like).to_have_text("\u2665 Liked \u00b7 1")
    for order in ("Newest", "Top", "Oldest"):
        await page.reload()
        await live(page)
        if order != "Newest":
            await sort_button(page, order).click()
            await shows_order(page, order)
        await expect(like).to_have_text("\u2665 Liked \u00b7 1")
        await expect(like).to_have_attribute("aria-pressed", "true")
        await expect(comment(page, "Me too.").locator("button.c-like")).to_have_attribute(
            "aria-pressed", "false"
        )
    await screenshot(page, "sorting-liked-after-reload")
    # Another reader (no identity) sees the count, not pressed.
    other = await open_page(stack.page("relike.html", site="relike", article=article))
    await live(other)
    other_like = comment(other, "Worth liking.").locator("button.c-like")
    await expect(other_like).to_have_text("\u2661 Like \u00b7 1")
    await expect(other_like).to_have_attribute("aria-pressed", "false")


async def test_edits_tombstones_and_permalinks_keep_working_in_every_order(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("every")
    article = "2025/07/every-order"
    parent = (await stack.post("every", article, "A parent, soon gone.", name="Pat")).json()
    await stack.post(
        "every", article, "A reply that stays.", name="Rae", parent=parent["comment"]["id"]
    )
    other = (await stack.post("every", article, "A typo hree.", name="Oli")).json()
    url = stack.page("every.html", site="every", article=article, title="Every order")
    pages: dict[str, Page] = {}
    for name in ("Newest", "Oldest", "Top"):
        page = pages[name] = await open_page(url)
        await live(page)
        await sort_button(page, name).click()
        await shows_order(page, name)
        await live(page)

    async with stack.client() as http:
        path = f"/api/v1/sites/every/articles/{article}/comments"
        r = await http.patch(
            f"{path}/{other['comment']['id']}",
            json={"body": "A typo, here."},
            headers={"X-Comments-Guest": other["guest_token"]},
        )
        assert r.status_code == 200, r.text
        r = await http.delete(
            f"{path}/{parent['comment']['id']}",
            headers={"X-Comments-Guest": parent["guest_token"], "Content-Type": "application/json"},
        )
        assert r.status_code == 200, r.text
    for name, page in pages.items():
        fixed = comment(page, "A typo, here.")
        await expect(fixed.locator(".c-edited")).to_be_visible()
        gone = comment(page, "This comment was removed.").locator("xpath=..")
        await expect(gone.locator(".c-replies .c-body")).to_have_text(["A reply that stays."])
        await expect(page.locator("#comments .c-body", has_text="soon gone")).to_have_count(0)
        await screenshot(page, f"sorting-edit-tombstone-{name.lower()}")

    # A permalink opened by a reader who picked Top: the slice around it, oldest first,
    # the comment focused; picking an order again shows that order's first page.
    top = pages["Top"]
    await top.goto(f"{url}#comment-{other['comment']['id']}")
    await top.reload()
    await live(top)
    await shows_order(top, "Oldest")
    await expect(top.locator("#comments .c-target article.c-comment")).to_be_focused()
    await sort_button(top, "Top").click()
    await shows_order(top, "Top")
    await expect(top.locator("#comments .c-target")).to_have_count(0)
