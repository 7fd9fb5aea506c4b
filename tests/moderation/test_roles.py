"""Roles, scopes and reversing decisions (docs/api.md, "Roles and scopes", "Reversing
decisions"): a scoped moderator sees and acts only on its sections; with
``expected_status`` moderators reverse each other's decisions, a stale one is a 409."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from comments.moderation.roles import check_scopes, may_act
from comments.settings import Settings
from tests.conftest import RunningServer, add_site
from tests.moderation import (
    CLEAN,
    TOXIC,
    Guest,
    Moderator,
    bearer,
    cli,
    mod_settings,
    new_moderator,
    open_moderation,
    posted,
    rows,
)

SPORT = "sport/2026/derby"
POLITICS = "politics/2026/budget"


@pytest.fixture
async def server(database_url: str, channel_prefix: str, start_server: Any) -> RunningServer:
    await add_site(database_url)
    settings: Settings = mod_settings(database_url, "memory://", channel_prefix)
    running: RunningServer = await start_server(settings)
    return running


async def scoped(
    server: RunningServer, http: httpx.AsyncClient, name: str, *scopes: str
) -> Moderator:
    token = await server.node.review.add_moderator("news", name, scopes=scopes)
    return Moderator(http, token)


async def decide(
    mod: Moderator, action: str, comment_id: str, expected: str | None
) -> httpx.Response:
    return await mod.http.post(
        f"/api/v1/moderation/comments/{comment_id}/{action}",
        json={"expected_status": expected},
        headers=bearer(mod.token),
    )


def test_may_act_is_a_prefix_rule() -> None:
    assert may_act((), "anything")
    assert may_act(("sport/",), "sport/2026/derby")
    assert not may_act(("sport/",), "sports-desk/x")
    assert not may_act(("sport/",), "politics/sport/")
    assert may_act(("a/", "sport/"), "sport/x")
    assert check_scopes(["a/", "a/", "b"]) == ("a/", "b")
    for bad in ([""], ["x" * 201], ["a\nb"]):
        with pytest.raises(ValueError):
            check_scopes(bad)


async def test_a_scoped_moderator_sees_and_acts_only_on_its_sections(
    server: RunningServer,
) -> None:
    async with server.client() as http:
        sam = await scoped(server, http, "sam", "sport/")
        chief = await new_moderator(server, http, "chief")
        feed = await open_moderation(server, sam)
        politics_guest = Guest("Pol")
        politics = await posted(http, TOXIC, 202, article=POLITICS, guest=politics_guest)
        sport = await posted(http, TOXIC, 202, article=SPORT)
        # The feed skips the other section's item: the first event is the sport one.
        event = await feed.next()
        assert event["type"] == "queue.added" and event["item"]["id"] == sport["id"]
        assert [i["id"] for i in await sam.queue()] == [sport["id"]]
        assert {i["id"] for i in await chief.queue()} == {sport["id"], politics["id"]}

        for action in ("approve", "reject"):
            r = await sam.act(action, politics["id"])
            assert r.status_code == 403, r.text
            assert r.json()["error"]["code"] == "forbidden"
        r = await http.patch(
            f"/api/v1/moderation/sites/news/articles/{POLITICS}",
            json={"closed": True},
            headers=bearer(sam.token),
        )
        assert r.status_code == 403, r.text
        r = await http.post(
            f"/api/v1/moderation/sites/news/authors/{politics_guest.author_id}/ban",
            json={"reason": "x"},
            headers=bearer(sam.token),
        )
        assert r.status_code == 403, r.text
        # Nothing happened to the politics comment; the sport one is sam's to decide.
        assert {i["id"] for i in await chief.queue()} >= {politics["id"]}
        assert (await sam.decided("approve", sport["id"]))["status"] == "published"
        r = await http.patch(
            f"/api/v1/moderation/sites/news/articles/{SPORT}",
            json={"closed": True},
            headers=bearer(sam.token),
        )
        assert r.status_code == 200, r.text
        # The chief's decision in politics is not in sam's audit log; sport's are.
        assert (await chief.decided("reject", politics["id"]))["status"] == "rejected"
        entries = (
            await http.get("/api/v1/moderation/sites/news/audit", headers=bearer(sam.token))
        ).json()["entries"]
        assert [e["target"] for e in entries] == [f"article:{SPORT}", f"comment:{sport['id']}"]
        everything = (
            await http.get("/api/v1/moderation/sites/news/audit", headers=bearer(chief.token))
        ).json()["entries"]
        assert len(everything) == 3
        # Search, context and the author panel keep to sam's sections too.
        found = (
            await http.get("/api/v1/moderation/sites/news/comments", headers=bearer(sam.token))
        ).json()["items"]
        assert [i["id"] for i in found] == [sport["id"]]
        every = (
            await http.get("/api/v1/moderation/sites/news/comments", headers=bearer(chief.token))
        ).json()["items"]
        assert {i["id"] for i in every} == {sport["id"], politics["id"]}
        r = await http.get(
            f"/api/v1/moderation/comments/{politics['id']}/context", headers=bearer(sam.token)
        )
        assert r.status_code == 403, r.text
        author = f"/api/v1/moderation/sites/news/authors/{politics_guest.author_id}"
        for r in (
            await http.get(author, headers=bearer(sam.token)),
            await http.post(author + "/notes", json={"body": "x"}, headers=bearer(sam.token)),
        ):
            assert r.status_code == 403, r.text
        assert (await http.get(author, headers=bearer(chief.token))).status_code == 200
        await feed.ws.close()


async def test_a_scope_is_case_sensitive_on_every_database(server: RunningServer) -> None:
    # SQLite's LIKE ignores ASCII case: "sport/" must still not cover "Sport/…".
    async with server.client() as http:
        sam = await scoped(server, http, "sam", "sport/")
        other = Guest("Cap")
        capital = await posted(http, TOXIC, 202, article="Sport/2026/derby", guest=other)
        sport = await posted(http, TOXIC, 202, article=SPORT)
        assert [i["id"] for i in await sam.queue()] == [sport["id"]]
        found = (
            await http.get("/api/v1/moderation/sites/news/comments", headers=bearer(sam.token))
        ).json()["items"]
        assert [i["id"] for i in found] == [sport["id"]]
        r = await http.get(
            f"/api/v1/moderation/sites/news/authors/{other.author_id}", headers=bearer(sam.token)
        )
        assert r.status_code == 403, r.text
        assert capital["id"] != sport["id"]


async def test_a_scoped_admin_neither_exports_nor_erases_an_author(
    server: RunningServer,
) -> None:
    """Export and erasure span every section the author wrote in: a scoped admin would
    read or destroy comments outside their sections, so only a site-wide admin may."""
    sal = await server.node.review.add_moderator("news", "sal", role="admin", scopes=["sport/"])
    boss = await server.node.review.add_moderator("news", "boss", role="admin")
    async with server.client() as http:
        both, elsewhere = Guest("Both"), Guest("Pol")
        await posted(http, CLEAN, 201, article=SPORT, guest=both)
        in_politics = await posted(http, f"{CLEAN}, politics", 201, article=POLITICS, guest=both)
        await posted(http, CLEAN, 201, article=POLITICS, guest=elsewhere)
        people = "/api/v1/moderation/sites/news/authors/{}/{}"
        for guest in (both, elsewhere):
            r = await http.get(people.format(guest.author_id, "export"), headers=bearer(sal))
            assert r.status_code == 403, r.text
            assert r.json()["error"]["code"] == "forbidden"
            assert "politics" not in r.text
            r = await http.post(
                people.format(guest.author_id, "erase"), json={}, headers=bearer(sal)
            )
            assert r.status_code == 403, r.text
            assert r.json()["error"]["code"] == "forbidden"
        # Nothing was erased: the politics comment is still listed under its author.
        r = await http.get(f"/api/v1/sites/news/articles/{POLITICS}/comments")
        listed = {c["id"]: c for c in r.json()["comments"]}
        assert listed[in_politics["id"]]["body"] == f"{CLEAN}, politics"
        assert listed[in_politics["id"]]["author"]["name"] == "Both"
        # A site-wide admin still has both.
        r = await http.get(people.format(both.author_id, "export"), headers=bearer(boss))
        assert r.status_code == 200, r.text
        assert len(r.json()["comments"]) == 2 and r.json()["audit"] == []
        r = await http.post(people.format(both.author_id, "erase"), json={}, headers=bearer(boss))
        assert r.status_code == 200 and r.json()["erased"]["withdrawn"] == 2, r.text


async def test_moderators_reverse_each_other_with_expected_status(server: RunningServer) -> None:
    async with server.client() as http:
        ana = await new_moderator(server, http, "ana")
        ben = await new_moderator(server, http, "ben")
        held = await posted(http, TOXIC, 202)
        assert (await decide(ana, "reject", held["id"], "held")).json()["comment"][
            "status"
        ] == "rejected"
        # Without expected_status, today's rule: another moderator's decision stands.
        r = await ben.act("approve", held["id"])
        assert r.status_code == 409, r.text
        # With it, ben reverses ana's decision, and ana reverses ben's.
        r = await decide(ben, "approve", held["id"], "rejected")
        assert r.status_code == 200 and r.json()["comment"]["status"] == "published", r.text
        r = await decide(ana, "reject", held["id"], "published")
        assert r.status_code == 200 and r.json()["comment"]["status"] == "rejected", r.text
        # A stale expected_status: 409 with the comment as it is now.
        r = await decide(ben, "approve", held["id"], "published")
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "conflict"
        assert r.json()["comment"]["status"] == "rejected"
        r = await decide(ben, "reject", held["id"], "held")
        assert r.status_code == 409 and r.json()["comment"]["status"] == "rejected"
        r = await decide(ben, "approve", held["id"], "deleted")
        assert r.status_code == 422, r.text
        audit = (
            await http.get("/api/v1/moderation/sites/news/audit", headers=bearer(ana.token))
        ).json()
        assert [(e["moderator"], e["action"]) for e in audit["entries"]] == [
            ("ana", "reject"),
            ("ben", "approve"),
            ("ana", "reject"),
        ]


async def test_cli_adds_roles_and_scopes(server: RunningServer, database_url: str) -> None:
    done = await cli(
        database_url,
        "moderator", "add", "sam", "--site", "news", "--role", "admin",
        "--scope", "sport/", "--scope", "culture/",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    plain = await cli(database_url, "moderator", "add", "pia", "--site", "news")
    assert plain.returncode == 0, plain.stderr
    found = {r.name: r for r in await rows(server.node.store, "SELECT * FROM moderators")}
    assert found["sam"].role == "admin" and found["sam"].scopes == '["sport/", "culture/"]'
    assert found["pia"].role == "moderator" and found["pia"].scopes == "[]"
    bad = await cli(database_url, "moderator", "add", "x", "--site", "news", "--role", "owner")
    assert bad.returncode != 0 and bad.stdout == ""
    empty = await cli(database_url, "moderator", "add", "y", "--site", "news", "--scope", "")
    assert empty.returncode != 0 and "scope" in empty.stderr
