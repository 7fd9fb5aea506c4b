"""The moderation flow end to end on a running server (docs/api.md, "Moderation"): what the
classifier and the site's rules hold, what readers see live, what moderators see live,
and what their decisions do to open pages, the queue and the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from comments.settings import Settings
from tests.conftest import RunningServer, add_site
from tests.moderation import (
    ARTICLE,
    CLEAN,
    TOXIC,
    TOXIC_REASON,
    UNAVAILABLE,
    FailingClassifier,
    Guest,
    Moderator,
    bearer,
    from_address,
    listed_ids,
    mod_settings,
    new_moderator,
    open_moderation,
    open_public,
    post,
    posted,
    rows,
    use_classifier,
)

Serve = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
def serve(database_url: str, channel_prefix: str, start_server: Any) -> Serve:
    """``await serve(broker_url, site={...}, **settings)``: site "news", then a node."""

    async def serve(
        broker_url: str = "memory://", site: dict[str, Any] | None = None, **changes: Any
    ) -> RunningServer:
        await add_site(database_url, **(site or {}))
        settings: Settings = mod_settings(database_url, broker_url, channel_prefix, **changes)
        server: RunningServer = await start_server(settings)
        return server

    return serve


async def test_toxic_is_held_off_public_pages_and_shown_live_to_moderators(
    serve: Serve, broker_url: str
) -> None:
    server = await serve(broker_url)
    async with server.client() as http:
        ana = await new_moderator(server, http)
        public = await open_public(server)
        mod = await open_moderation(server, ana)

        toxic = await posted(http, TOXIC, 202)
        assert toxic["seq"] is None
        clean = await posted(http, CLEAN, 201)
        assert clean["seq"] == 1

        # The toxic comment was decided before the clean one was posted: had it been
        # broadcast, it would come first.
        first = await public.next()
        assert first == {"type": "comment.published", "seq": 1, "comment": clean}
        added = await mod.next()
        assert added["type"] == "queue.added"
        item = added["item"]
        assert item["id"] == toxic["id"] and item["status"] == "held"
        assert item["body"] == TOXIC and item["seq"] is None
        assert item["scores"]["profanity"] > 0.99
        assert item["reasons"] == [TOXIC_REASON]
        assert item["reports"] == 0
        assert await listed_ids(http) == [clean["id"]]
        assert [i["id"] for i in await ana.queue()] == [toxic["id"]]

        # Approved: published with the next seq, live on the page, off the queue.
        approved = await ana.decided("approve", toxic["id"])
        assert approved["status"] == "published" and approved["seq"] == 2
        assert await public.next() == {"type": "comment.published", "seq": 2, "comment": approved}
        assert await mod.next() == {"type": "queue.removed", "id": toxic["id"]}
        assert await ana.queue() == []
        assert await listed_ids(http) == [clean["id"], toxic["id"]]

        # Rejected once published: withdrawn from open pages.
        rejected = await ana.decided("reject", toxic["id"])
        assert rejected["status"] == "rejected" and rejected["seq"] is None
        assert await public.next() == {"type": "comment.removed", "seq": 3, "id": toxic["id"]}
        assert await listed_ids(http) == [clean["id"]]

        # A rejected comment may still be approved: it takes a new seq.
        again = await ana.decided("approve", toxic["id"])
        assert again["seq"] == 4
        assert await public.next() == {"type": "comment.published", "seq": 4, "comment": again}
        await public.close()
        await mod.close()


async def test_reject_a_held_comment_keeps_it_off_pages(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = await new_moderator(server, http)
        public = await open_public(server)
        toxic = await posted(http, TOXIC, 202)
        rejected = await ana.decided("reject", toxic["id"])
        assert rejected["status"] == "rejected"
        assert await ana.queue() == []
        clean = await posted(http, CLEAN, 201)
        # Rejecting a held comment is no public event: the next one is the clean post.
        assert await public.next() == {"type": "comment.published", "seq": 1, "comment": clean}
        assert await listed_ids(http) == [clean["id"]]
        await public.close()


async def test_a_second_decision_is_409_with_the_current_comment(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = await new_moderator(server, http, "ana")
        ben = await new_moderator(server, http, "ben")

        async def conflict(mod: Moderator, action: str, current: dict[str, Any]) -> None:
            r = await mod.act(action, held["id"])
            assert r.status_code == 409, r.text
            assert r.json()["error"]["code"] == "conflict"
            assert r.json()["comment"] == current

        held = await posted(http, TOXIC, 202)
        approved = await ana.decided("approve", held["id"])
        await conflict(ana, "approve", approved)  # in that state already
        await conflict(ben, "reject", approved)  # decided by another moderator
        # Its moderator may change their mind; then it is theirs again.
        rejected = await ana.decided("reject", held["id"])
        await conflict(ana, "reject", rejected)
        await conflict(ben, "approve", rejected)
        assert await listed_ids(http) == []

        # Two moderators decide the same held comment at once: one wins, the other is
        # told what happened.
        for round_ in range(3):
            contested = await posted(http, f"{TOXIC} number {round_}", 202)
            a, b = await asyncio.gather(
                ana.act("approve", contested["id"]), ben.act("reject", contested["id"])
            )
            assert sorted([a.status_code, b.status_code]) == [200, 409], (a.text, b.text)
            winner, loser = (a, b) if a.status_code == 200 else (b, a)
            assert loser.json()["comment"] == winner.json()["comment"]
            assert loser.json()["comment"]["status"] in ("published", "rejected")


async def test_queue_is_unscored_first_then_riskiest_first(serve: Serve) -> None:
    # Pre-moderation holds everything, so clean texts with low scores queue up too.
    server = await serve(site={"premoderated": True})
    async with server.client() as http:
        ana = await new_moderator(server, http)
        bodies = [
            "I think the minister is wrong about taxes",
            TOXIC,
            CLEAN,
            "what a load of shit",
        ]
        held = {body: await posted(http, body, 202) for body in bodies}
        await use_classifier(server, FailingClassifier())
        unscored = await posted(http, "posted while the classifier is down", 202)

        queue = await ana.queue()
        assert queue[0]["id"] == unscored["id"]
        assert queue[0]["scores"] == {}
        assert queue[0]["reasons"] == [UNAVAILABLE, "pre-moderated"]
        scored = queue[1:]
        assert {i["id"] for i in scored} == {c["id"] for c in held.values()}
        risks = [i["scores"]["profanity"] for i in scored]
        assert risks == sorted(risks, reverse=True)
        assert scored[0]["id"] == held[TOXIC]["id"]
        assert scored[-1]["id"] == held[CLEAN]["id"]


async def test_banned_word_is_refused_and_nothing_is_stored(serve: Serve) -> None:
    server = await serve(site={"banned_words": ["kompromat"]})
    async with server.client() as http:
        r = await post(http, "Here is the KOMPROMAT, enjoy")
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "banned_word"
        assert await rows(server.node.store, "SELECT id FROM comments") == []
        assert await rows(server.node.store, "SELECT id FROM authors") == []
        ana = await new_moderator(server, http)
        assert await ana.queue() == []
        # A word that merely contains it is fine.
        await posted(http, "kompromats are a genre of their own", 201)


@pytest.mark.parametrize(
    ("site", "body", "reasons"),
    [
        (
            {"suspect_words": ["referendum"]},
            "The Referendum was rigged",
            ["suspect word: referendum"],
        ),
        ({}, "read the real story at example.com/truth", ["link from a new author"]),
        ({}, "see https://news.example/x", ["link from a new author"]),
        ({"premoderated": True}, CLEAN, ["pre-moderated"]),
        ({"suspect_words": ["idiot"]}, TOXIC, [TOXIC_REASON, "suspect word: idiot"]),
    ],
    ids=["suspect-word", "bare-domain", "url", "site-premoderated", "score-and-word"],
)
async def test_site_rules_hold_with_reasons(
    serve: Serve, site: dict[str, Any], body: str, reasons: list[str]
) -> None:
    server = await serve(site=site)
    async with server.client() as http:
        ana = await new_moderator(server, http)
        held = await posted(http, body, 202)
        (item,) = await ana.queue()
        assert item["id"] == held["id"]
        assert item["reasons"] == reasons
        assert await listed_ids(http) == []


async def test_links_publish_once_the_author_has_an_approved_comment(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = await new_moderator(server, http)
        mia = Guest("Mia")
        first = await posted(http, "my blog: mia.example.com/about", 202, guest=mia)
        await ana.decided("approve", first["id"])
        second = await posted(http, "and more at www.mia-blog.org", 201, guest=mia)
        assert second["author"]["id"] == first["author"]["id"]
        # Trust is the author's own: another new guest's link is still held.
        await posted(http, "buy at shop.example.com", 202, guest=Guest("Spam"))


async def test_article_premoderation_and_closing(serve: Serve) -> None:
    server = await serve()
    article_url = f"/api/v1/moderation/sites/news/articles/{ARTICLE}"
    async with server.client() as http:
        ana = await new_moderator(server, http)
        r = await http.patch(article_url, json={"premoderated": True}, headers=bearer(ana.token))
        assert r.status_code == 200, r.text
        assert r.json()["premoderated"] is True and r.json()["closed"] is False
        held = await posted(http, CLEAN, 202)
        (item,) = await ana.queue()
        assert item["id"] == held["id"] and item["reasons"] == ["pre-moderated"]
        # Other articles of the site are not pre-moderated.
        await posted(http, CLEAN + "!", 201, article="2025/07/other")

        r = await http.patch(article_url, json={"closed": True}, headers=bearer(ana.token))
        assert r.status_code == 200, r.text
        r = await post(http, "anyone still here?")
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "closed"

        r = await http.patch(
            article_url, json={"closed": False, "premoderated": False}, headers=bearer(ana.token)
        )
        assert r.status_code == 200, r.text
        await posted(http, "open again", 201)


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat().replace("+00:00", "Z")


def _unix(delta: timedelta) -> float:
    return (datetime.now(UTC) + delta).timestamp()


@pytest.mark.parametrize(
    ("until", "banned"),
    [
        (lambda: None, True),
        (lambda: _iso(timedelta(days=1)), True),
        (lambda: _iso(timedelta(minutes=-1)), False),
        (lambda: _unix(timedelta(days=1)), True),
        (lambda: _unix(timedelta(minutes=-1)), False),
    ],
    ids=["forever", "iso-tomorrow", "iso-a-minute-ago", "unix-tomorrow", "unix-a-minute-ago"],
)
async def test_ban_an_author(serve: Serve, until: Callable[[], Any], banned: bool) -> None:
    server = await serve(trusted_proxies="127.0.0.1")
    async with server.client() as http:
        ana = await new_moderator(server, http)
        troll = Guest("Troll")
        await posted(http, "first", 201, guest=troll)
        ban_url = f"/api/v1/moderation/sites/news/authors/{troll.author_id}/ban"
        for bad in ("tomorrow", "2030-01-01T00:00:00", True, [1]):
            r = await http.post(ban_url, json={"until": bad}, headers=bearer(ana.token))
            assert r.status_code == 422, (bad, r.text)
        r = await http.post(
            ban_url, json={"reason": "spam", "until": until()}, headers=bearer(ana.token)
        )
        assert r.status_code == 200, r.text
        r = await post(http, "second", guest=troll)
        if banned:
            assert r.status_code == 403, r.text
            assert r.json()["error"]["code"] == "banned"
        else:
            assert r.status_code == 201, r.text
        # Others, from other addresses, post as before.
        await posted(http, "someone else", 201, headers=from_address("198.51.100.20"))


async def test_unban_lets_the_author_post_again(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = await new_moderator(server, http)
        troll = Guest("Troll")
        await posted(http, "first", 201, guest=troll)
        ban_url = f"/api/v1/moderation/sites/news/authors/{troll.author_id}/ban"
        r = await http.post(ban_url, json={"reason": "spam"}, headers=bearer(ana.token))
        assert r.status_code == 200, r.text
        assert (await post(http, "second", guest=troll)).status_code == 403
        r = await http.delete(ban_url, headers=bearer(ana.token))
        assert r.status_code == 200, r.text
        await posted(http, "third", 201, guest=troll)
        r = await http.post(
            "/api/v1/moderation/sites/news/authors/g_nobody/ban",
            json={"reason": "who?"},
            headers=bearer(ana.token),
        )
        assert r.status_code == 404, r.text


@pytest.mark.parametrize(
    ("site", "needed"), [({}, 3), ({"reports_before_review": 2}, 2)], ids=["default-3", "site-2"]
)
async def test_reports_send_a_published_comment_to_the_queue(
    serve: Serve, site: dict[str, Any], needed: int
) -> None:
    server = await serve(site=site, trusted_proxies="127.0.0.1")
    async with server.client() as http:
        ana = await new_moderator(server, http)
        mod = await open_moderation(server, ana)
        comment = await posted(http, "the minister is lying", 201)
        readers = [Guest(f"Reader {i}") for i in range(needed)]
        # Guests count once per network: each reader reports from an address of their own.
        addresses = {r.name: from_address(f"203.0.113.{i + 10}") for i, r in enumerate(readers)}
        for reader in readers:  # each becomes a guest by commenting elsewhere
            await posted(http, f"hello from {reader.name}", 201, guest=reader, article="other")
        report_url = f"{'/api/v1/sites/news/articles/' + ARTICLE}/comments/{comment['id']}/report"

        async def report(reader: Guest) -> None:
            r = await http.post(
                report_url,
                json={"reason": "lies"},
                headers={**reader.headers(), **addresses[reader.name]},
            )
            assert r.status_code == 202, r.text

        # One reader reporting again and again counts once.
        for _ in range(needed):
            await report(readers[0])
        for reader in readers[1:-1]:
            await report(reader)
        assert await ana.queue() == []
        await report(readers[-1])

        added = await mod.next()
        assert added["type"] == "queue.added" and added["item"]["id"] == comment["id"]
        (item,) = await ana.queue()
        assert item == added["item"]
        assert item["reports"] == needed and item["status"] == "published"
        assert item["reasons"] == [f"reported {needed} times"]
        # Still visible meanwhile.
        assert await listed_ids(http) == [comment["id"]]

        kept = await ana.decided("approve", comment["id"])
        assert kept == comment
        assert await mod.next() == {"type": "queue.removed", "id": comment["id"]}
        assert await ana.queue() == []
        assert await listed_ids(http) == [comment["id"]]
        # The reports were cleared: approving again has nothing to do, and counting
        # starts over.
        assert (await ana.act("approve", comment["id"])).status_code == 409
        await report(readers[0])
        assert await ana.queue() == []
        await mod.close()


async def test_audit_log_lists_every_action_newest_first(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = await new_moderator(server, http, "ana")
        ben = await new_moderator(server, http, "ben")
        troll = Guest("Troll")
        first = await posted(http, TOXIC, 202, guest=troll)
        second = await posted(http, TOXIC + " and worse", 202, guest=troll)
        await ana.decided("approve", first["id"])
        await ben.decided("reject", second["id"])
        ban_url = f"/api/v1/moderation/sites/news/authors/{troll.author_id}/ban"
        assert (
            await http.post(ban_url, json={"reason": "insults"}, headers=bearer(ana.token))
        ).status_code == 200
        assert (await http.delete(ban_url, headers=bearer(ben.token))).status_code == 200
        r = await http.patch(
            f"/api/v1/moderation/sites/news/articles/{ARTICLE}",
            json={"closed": True},
            headers=bearer(ana.token),
        )
        assert r.status_code == 200
        # A refused action (409) is no action.
        assert (await ana.act("approve", first["id"])).status_code == 409

        r = await http.get("/api/v1/moderation/sites/news/audit", headers=bearer(ana.token))
        assert r.status_code == 200, r.text
        entries = r.json()["entries"]
        assert [(e["moderator"], e["action"], e["target"]) for e in entries] == [
            ("ana", "article", f"article:{ARTICLE}"),
            ("ben", "unban", f"author:{troll.author_id}"),
            ("ana", "ban", f"author:{troll.author_id}"),
            ("ben", "reject", f"comment:{second['id']}"),
            ("ana", "approve", f"comment:{first['id']}"),
        ]
        assert entries[0]["detail"] == {"closed": True}
        assert entries[2]["detail"]["new"]["reason"] == "insults"
        assert entries[2]["detail"]["old"] is None
        assert entries[1]["detail"]["old"]["reason"] == "insults"
        assert entries[1]["detail"]["new"] is None
        assert all(e["at"].endswith("Z") for e in entries)
        stamps = [e["at"] for e in entries]
        assert stamps == sorted(stamps, reverse=True)

        # Paging: limit, then before=next until next is null.
        pages: list[list[dict[str, Any]]] = []
        params: dict[str, Any] = {"limit": 2}
        for _ in range(10):
            r = await http.get(
                "/api/v1/moderation/sites/news/audit", params=params, headers=bearer(ben.token)
            )
            assert r.status_code == 200, r.text
            pages.append(r.json()["entries"])
            if r.json()["next"] is None:
                break
            params["before"] = r.json()["next"]
        assert [len(p) for p in pages] == [2, 2, 1]
        assert [e for p in pages for e in p] == entries


async def test_moderation_of_an_unknown_comment_is_404(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = await new_moderator(server, http)
        for action in ("approve", "reject"):
            r = await ana.act(action, "no-such-comment")
            assert r.status_code == 404, r.text


async def test_concurrent_reports_are_all_counted(serve: Serve) -> None:
    server = await serve(trusted_proxies="127.0.0.1")
    async with server.client() as http:
        ana = await new_moderator(server, http)
        mod = await open_moderation(server, ana)
        comment = await posted(http, "the minister is lying", 201)
        readers = [Guest(f"Reader {i}") for i in range(6)]
        for reader in readers:
            await posted(http, f"hello from {reader.name}", 201, guest=reader, article="other")
        report_url = f"/api/v1/sites/news/articles/{ARTICLE}/comments/{comment['id']}/report"
        answers = await asyncio.gather(
            *(
                http.post(
                    report_url,
                    json={"reason": "lies"},
                    headers={**r.headers(), **from_address(f"198.51.100.{i + 1}")},
                )
                for i, r in enumerate(readers)
            )
        )
        assert [r.status_code for r in answers] == [202] * 6
        (item,) = await ana.queue()
        assert item["reports"] == 6
        assert item["reasons"] == ["reported 6 times"]
        # Moderators were told once, however the reports interleaved.
        added = await mod.next()
        assert added["type"] == "queue.added" and added["item"]["id"] == comment["id"]
        await ana.decided("approve", comment["id"])
        assert await mod.next() == {"type": "queue.removed", "id": comment["id"]}
        await mod.close()


@pytest.mark.parametrize(
    "reason", ["nul\u0000byte", "x" * 1001, 7], ids=["nul", "too-long", "not-a-string"]
)
async def test_unstorable_reasons_are_refused(serve: Serve, reason: object) -> None:
    server = await serve()
    async with server.client() as http:
        ana = await new_moderator(server, http)
        author = Guest("Bo")
        comment = await posted(http, "a fine comment", 201, guest=author)
        r = await http.post(
            f"/api/v1/sites/news/articles/{ARTICLE}/comments/{comment['id']}/report",
            json={"reason": reason},
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "invalid_body"
        r = await http.post(
            f"/api/v1/moderation/sites/news/authors/{comment['author']['id']}/ban",
            json={"reason": reason},
            headers=bearer(ana.token),
        )
        assert r.status_code == 422, r.text
        # Nothing was recorded: not reported, not banned.
        assert await ana.queue() == []
        await posted(http, "still allowed to post", 201, guest=author)
