"""Hostile probes of edits, permalinks and tombstones (issue 17): what an edit may not
do (change a closed thread), what ``…/context`` must never serve (other sites' and
articles' comments, held ones, 5xx on bad input), and that a toxic edit approved later
leaves the earlier text nowhere. Real server over sockets, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.api import assert_error
from tests.moderation import (
    ARTICLE,
    CLEAN,
    TOXIC,
    Guest,
    bearer,
    new_moderator,
    open_moderation,
    open_public,
    posted,
    thread_url,
)
from tests.moderation.test_bans import ban
from tests.threads.test_edits import Serve, edit, replay, serve  # noqa: F401 - fixture

ARTICLE_URL = f"/api/v1/moderation/sites/news/articles/{ARTICLE}"


async def test_an_edit_on_a_closed_article_is_refused(serve: Serve) -> None:  # noqa: F811
    server = await serve()
    async with server.client() as http:
        ana = Guest("Ana")
        first = await posted(http, CLEAN, 201, guest=ana)
        mod = await new_moderator(server, http)
        r = await http.patch(ARTICLE_URL, json={"closed": True}, headers=bearer(mod.token))
        assert r.status_code == 200, r.text

        # Closed for comments: its comments do not change under it either.
        r = await edit(http, first, "a new text, after the thread closed", ana)
        assert_error(r, 403, "closed")
        listed = (await http.get(thread_url())).json()
        assert [c["body"] for c in listed["comments"]] == [CLEAN]
        assert listed["latest_seq"] == first["seq"]


async def test_context_never_serves_other_sites_articles_or_held_comments(
    serve: Serve,  # noqa: F811
) -> None:
    server = await serve()
    async with server.client() as http:
        here = await posted(http, CLEAN, 201)
        other = await posted(http, "on another article", 201, article="2025/07/other")
        held = await posted(http, TOXIC, 202)
        base = thread_url()
        for cid in (other["id"], held["id"], "nope", "x" * 5000, "%00", "..", "%2e%2e"):
            r = await http.get(f"{base}/{cid}/context")
            assert r.status_code == 404, (cid, r.text)
            assert r.json()["error"]["code"] in ("not_found", "unknown_site"), r.text
            assert "another article" not in r.text and TOXIC not in r.text
        # A NUL byte (which PostgreSQL refuses in text) is just an unknown id, everywhere.
        guest = Guest("Ana")
        mod = await new_moderator(server, http)
        for method, url, headers in (
            ("PATCH", f"{base}/%00", guest.headers()),
            ("DELETE", f"{base}/%00", guest.headers()),
            ("POST", f"{base}/%00/report", guest.headers()),
            ("GET", "/api/v1/moderation/comments/%00/versions", bearer(mod.token)),
            ("POST", "/api/v1/moderation/comments/%00/approve", bearer(mod.token)),
            ("POST", "/api/v1/moderation/comments/%00/reject", bearer(mod.token)),
        ):
            r = await http.request(method, url, json={"body": "x"}, headers=headers)
            assert 400 <= r.status_code < 500, (method, url, r.text)
            assert r.json()["error"]["code"], r.text
        # The same id under another site's path: no such comment there.
        r = await http.get(f"/api/v1/sites/nosuch/articles/{ARTICLE}/comments/{here['id']}/context")
        assert r.status_code == 404 and CLEAN not in r.text, r.text
        for limit in ("-1", "0", "0" * 30, "abc", "1e3", "\u0661", "%00", " 5"):
            r = await http.get(f"{base}/{here['id']}/context", params={"limit": limit})
            assert r.status_code == 422, (limit, r.text)
            assert r.json()["error"]["code"] == "invalid_parameter"
        for limit in ("100000", "9" * 30, "0" * 20 + "7"):  # capped at 100, as documented
            r = await http.get(f"{base}/{here['id']}/context", params={"limit": limit})
            assert r.status_code == 200 and r.json()["comment"]["id"] == here["id"], limit


async def test_a_toxic_edit_approved_later_leaves_the_old_text_nowhere(
    serve: Serve,  # noqa: F811
) -> None:
    server = await serve()
    async with server.client() as http:
        ana, bob = Guest("Ana"), Guest("Bob")
        first = await posted(http, "my secret first words", 201, guest=ana)
        r = await http.post(
            thread_url(),
            json={"body": "a reply", "parent": first["id"], "author_name": "Bob"},
            headers=bob.headers(),
        )
        assert r.status_code == 201, r.text
        answer = r.json()["comment"]
        page = await open_public(server)
        assert (await edit(http, first, TOXIC, ana)).status_code == 202
        mod = await new_moderator(server, http)
        approved = await mod.decided("approve", first["id"])
        assert approved["body"] == TOXIC and approved["status"] == "published"
        frames = [await page.next(), await page.next()]
        assert [f["type"] for f in frames] == ["comment.removed", "comment.published"]
        assert frames[1]["comment"]["body"] == TOXIC and "edited_at" in frames[1]["comment"]
        await page.close()

        seen: list[Any] = [*await replay(server), *await replay(server, since=1)]
        for order in ("oldest", "newest"):
            listing = (await http.get(thread_url(), params={"order": order})).json()
            seen.append(listing)
            bodies = [c["body"] for c in listing["comments"]]
            assert sorted(bodies) == sorted([TOXIC, answer["body"]]), listing
        for cid in (first["id"], answer["id"]):
            seen.append((await http.get(f"{thread_url()}/{cid}/context")).json())
        counts = await http.get("/api/v1/sites/news/counts", params={"article": ARTICLE})
        seen.append(counts.json())
        assert "secret first words" not in json.dumps(seen)


async def test_racing_edits_and_a_reject_leave_one_consistent_text(
    serve: Serve,  # noqa: F811
) -> None:
    server = await serve(posts_per_minute_per_author=1000, posts_per_minute_per_ip=1000)
    async with server.client() as http:
        ana = Guest("Ana")
        first = await posted(http, "version zero of the text", 201, guest=ana)
        mod = await new_moderator(server, http)
        bodies = [f"version {i} of the text" for i in range(1, 9)] + [TOXIC]

        async def one(body: str) -> int:
            return (await edit(http, first, body, ana)).status_code

        async def reject() -> int:
            return (await mod.act("reject", first["id"])).status_code

        codes = await asyncio.gather(*(one(b) for b in bodies), reject())
        assert all(c < 500 for c in codes), codes
        assert set(codes[:-1]) <= {200, 202, 409, 429}, codes
        now = await server.node.store.get_comment(first["id"])
        assert now is not None
        listing = (await http.get(thread_url())).json()
        events = await replay(server)
        carried = [e for e in events if e["type"] in ("comment.published", "comment.edited")]
        if now.status.value == "published":
            # Exactly its current text is served, once; none of the others.
            assert [c["body"] for c in listing["comments"]] == [now.body]
            assert [e["comment"]["body"] for e in carried] == [now.body]
        else:
            assert listing["comments"] == [] and carried == []
        served = json.dumps([listing, events])
        for body in ["version zero of the text", *bodies]:
            if now.status.value != "published" or body != now.body:
                assert body not in served, body


async def test_a_shadowed_comments_edit_reaches_the_moderators_queue(
    serve: Serve,  # noqa: F811
) -> None:
    server = await serve()
    async with server.client() as http:
        troll = Guest("Troll")
        opening = await posted(http, "a harmless opening", 201, guest=troll)
        mod = await new_moderator(server, http)
        assert troll.author_id
        await ban(mod, troll.author_id, reason="trolling", shadow=True)
        shadowed = await posted(http, "a harmless second thought", 201, guest=troll)
        queue = await open_moderation(server, mod)
        # A moderator about to approve the harmless text must not publish another one
        # unseen: the edit puts the comment, with its new text and reasons, before them.
        r = await edit(http, shadowed, TOXIC, troll)
        assert r.status_code == 200 and r.json()["comment"]["status"] == "published"
        added = await queue.next()
        assert added["type"] == "queue.added" and added["item"]["id"] == shadowed["id"]
        assert added["item"]["body"] == TOXIC and added["item"]["reasons"]
        await queue.close()
        assert opening["id"] != shadowed["id"]


async def test_a_new_author_cannot_edit_a_link_past_the_link_rule(
    serve: Serve,  # noqa: F811
) -> None:
    server = await serve()
    async with server.client() as http:
        # A new author's link waits for a moderator when posted...
        spam = CLEAN + " https://spam.example/buy"
        assert (await posted(http, spam, 202, guest=Guest("Sam")))["status"] == "held"
        # ...and when edited into a comment the author had just got published: that
        # comment is not an earlier approved one vouching for its own new text.
        newbie = Guest("Newbie")
        first = await posted(http, CLEAN, 201, guest=newbie)
        r = await edit(http, first, spam, newbie)
        assert r.status_code == 202, r.text
        assert r.json()["comment"]["status"] == "held"
        listing = (await http.get(thread_url())).json()
        assert "spam.example" not in json.dumps(listing)
        # An author with another approved comment is trusted with links, in edits too.
        second = await posted(http, CLEAN + " indeed", 201, guest=newbie)
        assert first["id"] != second["id"]
        regular = Guest("Regular")
        one = await posted(http, "first words here", 201, guest=regular)
        two = await posted(http, "second words here", 201, guest=regular)
        r = await edit(http, two, "second words https://example.com/source", regular)
        assert r.status_code == 200 and one["id"] != two["id"], r.text
