"""The public HTTP API as partner sites and the widget use it (docs/api.md, "Reading and
posting"): post, reply, list and page, count, delete, duplicates, closed articles, rate
limits, sign-in, and the health endpoints."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio

from comments.models import Author, Status
from comments.settings import Settings
from tests.api import (
    OLD_SSO_SECRET,
    SSO_SECRET,
    api_settings,
    assert_error,
    bearer,
    comments_url,
    module_database,
    running_server,
    sso_token,
    stored_rows,
    unsigned_token,
)
from tests.conftest import RunningServer, add_site

COMMENT_KEYS = {"id", "site", "article", "parent", "author", "body", "status", "seq", "created_at"}
COMMENT_KEYS |= {"reactions"}  # docs/api.md, "Reactions"
CREATED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
GUEST = "X-Comments-Guest"

# Most tests share one server per database (each on its own article or site); the
# first one runs on every database and broker pair with a server of its own.
MODULE = pytest.mark.asyncio(loop_scope="module")


@dataclass(frozen=True)
class World:
    server: RunningServer
    database_url: str

    async def site(self, **overrides: Any) -> str:
        """A new site of this test's own (guests on, limits off unless overridden)."""
        slug = f"s-{secrets.token_hex(4)}"
        await add_site(self.database_url, slug, **overrides)
        return slug


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgres"])
async def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_template: str
) -> AsyncIterator[World]:
    async with module_database(request.param, tmp_path_factory, pg_template) as database_url:
        await add_site(database_url, "news", sso_secrets=[SSO_SECRET])
        async with running_server(api_settings(database_url, "public")) as server:
            yield World(server, database_url)


@pytest_asyncio.fixture(loop_scope="module")
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with world.server.client() as client:
        yield client


async def post(
    http: httpx.AsyncClient,
    article: str,
    body: str,
    *,
    site: str = "news",
    name: str | None = "Ana",
    token: str | None = None,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    payload: dict[str, Any] = {"body": body, **fields}
    if name is not None:
        payload["author_name"] = name
    all_headers = dict(headers or {})
    if token is not None:
        all_headers[GUEST] = token
    return await http.post(comments_url(article, site), json=payload, headers=all_headers)


async def posted(http: httpx.AsyncClient, article: str, body: str, **kw: Any) -> dict[str, Any]:
    r = await post(http, article, body, **kw)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def listing(
    http: httpx.AsyncClient, article: str, site: str = "news", **params: Any
) -> dict[str, Any]:
    r = await http.get(comments_url(article, site), params=params)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def count(http: httpx.AsyncClient, *articles: str, site: str = "news") -> dict[str, int]:
    r = await http.get(f"/api/v1/sites/{site}/counts", params=[("article", a) for a in articles])
    assert r.status_code == 200, r.text
    counts: dict[str, int] = r.json()["counts"]
    return counts


# -- posting --------------------------------------------------------------------------


async def test_post_returns_the_comment_object(settings: Settings, start_server: Any) -> None:
    await add_site(settings.database_url)
    server = await start_server(settings.with_(classifier="profanity-check"))
    article = "2025/07/lavrov-kim"
    async with server.client() as http:
        r = await post(http, article, "  Hello,\n  world!  \n", name="  Ana  ")
        assert r.status_code == 201, r.text
        assert set(r.json()) == {"comment", "guest_token"}
        first, token = r.json()["comment"], r.json()["guest_token"]
        assert set(first) == COMMENT_KEYS
        assert isinstance(first["id"], str) and first["id"]
        assert first["site"] == "news" and first["article"] == article
        assert first["parent"] is None
        assert first["body"] == "Hello,\n  world!"  # trimmed, inside kept as typed
        assert first["status"] == "published" and first["seq"] == 1
        assert set(first["author"]) == {"id", "name"}
        assert first["author"]["name"] == "Ana" and first["author"]["id"]
        assert CREATED_AT.fullmatch(first["created_at"]), first["created_at"]
        created = datetime.strptime(first["created_at"], "%Y-%m-%dT%H:%M:%SZ")
        assert abs(created.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=5)
        assert isinstance(token, str) and token

        # The token keeps the identity and is not issued again.
        r = await post(http, article, "second", token=token)
        assert r.status_code == 201, r.text
        assert set(r.json()) == {"comment"}
        second = r.json()["comment"]
        assert second["author"] == first["author"] and second["seq"] == 2

        # Without it, the same name is a new guest.
        r = await post(http, article, "third")
        assert r.json()["comment"]["author"]["id"] != first["author"]["id"]
        assert r.json()["guest_token"] != token

        page = await listing(http, article)
    assert page["comments"][:2] == [first, second]
    assert page["latest_seq"] == 3 and page["next"] is None


@MODULE
async def test_markup_is_stored_and_returned_verbatim(http: httpx.AsyncClient) -> None:
    body = "<script>alert('x')</script> <b>bold</b> &amp; &lt;i&gt; <img src=x onerror=alert(1)>"
    comment = (await posted(http, "markup", body))["comment"]
    assert comment["body"] == body
    assert (await listing(http, "markup"))["comments"][0]["body"] == body


@MODULE
async def test_reply_to_a_published_comment(http: httpx.AsyncClient) -> None:
    top = (await posted(http, "replies", "top"))["comment"]
    reply = (await posted(http, "replies", "reply", parent=top["id"]))["comment"]
    assert reply["parent"] == top["id"]
    nested = (await posted(http, "replies", "nested", parent=reply["id"]))["comment"]
    assert nested["parent"] == reply["id"]
    page = await listing(http, "replies")
    assert [(c["body"], c["parent"]) for c in page["comments"]] == [
        ("top", None),
        ("reply", top["id"]),
        ("nested", reply["id"]),
    ]


ARTICLE_FORMS = {
    "slashes": ("2025/07/x", ["2025/07/x", "2025%2F07%2Fx", "2025%2f07/x"]),
    "unicode": ("новости/статья №1 🦆", ["новости/статья №1 🦆", quote("новости/статья №1 🦆")]),
    "reserved-characters": ("a?b#c&d=e%f", [quote("a?b#c&d=e%f", safe="")]),
    "ends-in-comments": ("x/comments", ["x/comments"]),
}


@MODULE
@pytest.mark.parametrize(("article", "paths"), list(ARTICLE_FORMS.values()), ids=ARTICLE_FORMS)
async def test_article_id_forms_route_to_one_thread(
    http: httpx.AsyncClient, article: str, paths: list[str]
) -> None:
    ids = []
    for n, path in enumerate(paths):
        comment = (await posted(http, path, f"via form {n}"))["comment"]
        assert comment["article"] == article
        ids.append(comment["id"])
    for path in paths:
        page = await listing(http, path)
        assert [c["id"] for c in page["comments"]] == ids
        assert {c["article"] for c in page["comments"]} == {article}
    assert await count(http, article) == {article: len(ids)}
    # Deleting works on the same path forms.
    token = (await posted(http, paths[-1], "to delete"))["guest_token"]
    last = (await listing(http, paths[0]))["comments"][-1]["id"]
    r = await http.delete(comments_url(paths[0]) + f"/{last}", headers={GUEST: token})
    assert r.status_code == 200, r.text
    assert await count(http, article) == {article: len(ids)}


# -- reading --------------------------------------------------------------------------


@MODULE
async def test_paging_oldest_and_newest(http: httpx.AsyncClient) -> None:
    for n in range(1, 8):
        await posted(http, "paged", f"comment {n}")

    def bodies(page: dict[str, Any]) -> list[int]:
        return [int(c["body"].split()[1]) for c in page["comments"]]

    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor is not None:
            params["after"] = cursor
        page = await listing(http, "paged", **params)
        assert page["latest_seq"] == 7
        pages.append((bodies(page), page["next"]))
        cursor = page["next"]
        if cursor is None or len(pages) > 5:
            break
    assert pages == [([1, 2, 3], 3), ([4, 5, 6], 6), ([7], None)]
    assert await listing(http, "paged") == await listing(http, "paged", order="oldest")

    pages, cursor = [], None
    while True:
        params = {"limit": 3, "order": "newest"}
        if cursor is not None:
            params["before"] = cursor
        page = await listing(http, "paged", **params)
        pages.append((bodies(page), page["next"]))
        cursor = page["next"]
        if cursor is None or len(pages) > 5:
            break
    assert pages == [([7, 6, 5], 5), ([4, 3, 2], 2), ([1], None)]

    # A page that ends exactly at the last comment says so.
    assert (await listing(http, "paged", limit=7))["next"] is None
    assert (await listing(http, "paged", after=4, limit=3))["next"] is None


@MODULE
async def test_limit_defaults_to_50_and_is_capped_at_100(world: World) -> None:
    store = world.server.node.store
    author, _ = await store.create_guest("news", "Bulk")
    for n in range(105):
        await store.create_comment(
            site="news",
            article="long-thread",
            author=author,
            body=f"bulk {n}",
            parent=None,
            status=Status.PUBLISHED,
        )
    async with world.server.client() as http:
        page = await listing(http, "long-thread")
        assert [c["seq"] for c in page["comments"]] == list(range(1, 51))
        assert page["next"] == 50 and page["latest_seq"] == 105
        for limit in (100, 101, 1000, 10**30):
            page = await listing(http, "long-thread", limit=limit)
            assert len(page["comments"]) == 100 and page["next"] == 100
        page = await listing(http, "long-thread", after=100, limit=1000)
        assert [c["seq"] for c in page["comments"]] == [101, 102, 103, 104, 105]
        assert page["next"] is None
        page = await listing(http, "long-thread", order="newest", limit=1000)
        assert page["comments"][0]["seq"] == 105 and page["next"] == 6


@MODULE
async def test_unknown_article_is_an_empty_thread(http: httpx.AsyncClient) -> None:
    empty = {"comments": [], "next": None, "latest_seq": 0}
    assert await listing(http, "never/commented") == empty
    assert await listing(http, "never/commented", order="newest", before=5) == empty
    assert await count(http, "never/commented") == {"never/commented": 0}


@MODULE
async def test_counts_of_several_articles(http: httpx.AsyncClient) -> None:
    for n in range(3):
        await posted(http, "count/a", f"a{n}")
    await posted(http, "count/b", "kept")
    gone = await posted(http, "count/b", "deleted")
    r = await http.delete(
        comments_url("count/b") + f"/{gone['comment']['id']}",
        headers={GUEST: gone["guest_token"]},
    )
    assert r.status_code == 200
    assert await count(http, "count/a", "count/b", "count/none", "count/a") == {
        "count/a": 3,
        "count/b": 1,
        "count/none": 0,
    }
    assert await count(http) == {}
    r = await http.get("/api/v1/sites/nope/counts", params={"article": "count/a"})
    assert_error(r, 404, "unknown_site")


# -- deleting -------------------------------------------------------------------------


@MODULE
async def test_delete_own_comment(world: World, http: httpx.AsyncClient) -> None:
    first = await posted(http, "del", "mine")
    token, mine = first["guest_token"], first["comment"]["id"]
    other = await posted(http, "del", "theirs")
    theirs = other["comment"]["id"]
    url = comments_url("del") + "/"

    assert_error(await http.delete(url + theirs, headers={GUEST: token}), 403, "forbidden")
    assert_error(await http.delete(url + mine), 401, "unauthenticated")
    assert_error(await http.delete(url + "no-such-id", headers={GUEST: token}), 404, "not_found")
    # The right comment under the wrong article is not found either.
    wrong = comments_url("other-article") + f"/{mine}"
    assert_error(await http.delete(wrong, headers={GUEST: token}), 404, "not_found")
    assert await count(http, "del") == {"del": 2}

    r = await http.delete(url + mine, headers={GUEST: token})
    assert r.status_code == 200, r.text
    page = await listing(http, "del")
    assert [c["id"] for c in page["comments"]] == [theirs]
    assert page["latest_seq"] == 3  # the removal is an event of the stream
    assert await count(http, "del") == {"del": 1}
    assert_error(await http.delete(url + mine, headers={GUEST: token}), 404, "not_found")

    # Signed-in readers delete theirs with the same token they posted with.
    sso = bearer(sso_token("deleter", "Del"))
    signed = (await posted(http, "del", "signed", headers=sso, name=None))["comment"]
    assert_error(await http.delete(url + signed["id"], headers={GUEST: token}), 403, "forbidden")
    other_user = bearer(sso_token("someone-else", "Eve"))
    assert_error(await http.delete(url + signed["id"], headers=other_user), 403, "forbidden")
    r = await http.delete(url + signed["id"], headers=sso)
    assert r.status_code == 200, r.text
    assert [c["id"] for c in (await listing(http, "del"))["comments"]] == [theirs]


# -- refusals after identity: closed, duplicate, rate limits ----------------------------


@MODULE
async def test_duplicate_is_409_and_stored_once(world: World, http: httpx.AsyncClient) -> None:
    first = await posted(http, "dup", "Same words")
    token = first["guest_token"]
    before = await stored_rows(world.server.node.store)
    for body in ("Same words", "  Same words \n"):
        assert_error(await post(http, "dup", body, token=token), 409, "duplicate")
    # Also in another article: the same text from the same author within a minute.
    assert_error(await post(http, "dup/elsewhere", "Same words", token=token), 409, "duplicate")
    assert await stored_rows(world.server.node.store) == before
    assert [c["body"] for c in (await listing(http, "dup"))["comments"]] == ["Same words"]

    # Other text from the author, or the same text from someone else, is fine.
    await posted(http, "dup", "Other words", token=token)
    await posted(http, "dup", "Same words")
    sso = bearer(sso_token("dup-user", "Dee"))
    await posted(http, "dup", "Signed words", headers=sso, name=None)
    r = await post(http, "dup", "Signed words", headers=sso, name=None)
    assert_error(r, 409, "duplicate")
    assert await count(http, "dup") == {"dup": 4}


@MODULE
async def test_closed_article_is_403(world: World, http: httpx.AsyncClient) -> None:
    store = world.server.node.store
    earlier = await posted(http, "closing", "before closing")
    await store.set_article_state("news", "closing", closed=True)
    before = await stored_rows(store)
    assert_error(await post(http, "closing", "new guest"), 403, "closed")
    r = await post(http, "closing", "known guest", token=earlier["guest_token"])
    assert_error(r, 403, "closed")
    sso = bearer(sso_token("closer", "Cy"))
    assert_error(await post(http, "closing", "signed", headers=sso, name=None), 403, "closed")
    assert await stored_rows(store) == before  # not even the signed-in reader's author row
    assert [c["body"] for c in (await listing(http, "closing"))["comments"]] == ["before closing"]

    await store.set_article_state("news", "closing", closed=False)
    await posted(http, "closing", "after reopening")
    assert await count(http, "closing") == {"closing": 2}


def assert_retry_after(r: httpx.Response) -> None:
    assert_error(r, 429, "rate_limited")
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 60


@MODULE
async def test_rate_limit_per_author(world: World, http: httpx.AsyncClient) -> None:
    site = await world.site(posts_per_minute_per_author=2, sso_secrets=[SSO_SECRET])
    first = await posted(http, "a", "one", site=site)
    token = first["guest_token"]
    await posted(http, "a", "two", site=site, token=token)
    before = await stored_rows(world.server.node.store)
    assert_retry_after(await post(http, "a", "three", site=site, token=token))
    assert_retry_after(await post(http, "b", "three", site=site, token=token))
    assert await stored_rows(world.server.node.store) == before
    # Other readers are not held back by this one.
    await posted(http, "a", "someone else", site=site)

    sso = bearer(sso_token("busy", "Bo"))
    await posted(http, "a", "s1", site=site, headers=sso, name=None)
    await posted(http, "a", "s2", site=site, headers=sso, name=None)
    assert_retry_after(await post(http, "a", "s3", site=site, headers=sso, name=None))
    assert await count(http, "a", "b", site=site) == {"a": 5, "b": 0}


@MODULE
async def test_rate_limit_per_ip(world: World, http: httpx.AsyncClient) -> None:
    site = await world.site(posts_per_minute_per_ip=3)
    for n in range(3):
        await posted(http, "a", f"guest {n}", site=site, name=f"Guest {n}")
    before = await stored_rows(world.server.node.store)
    assert_retry_after(await post(http, "a", "one more", site=site, name="Another"))
    assert await stored_rows(world.server.node.store) == before
    assert await count(http, "a", site=site) == {"a": 3}


@MODULE
async def test_refusals_after_identity_run_in_order(world: World, http: httpx.AsyncClient) -> None:
    """Article state, then duplicate, then rate limits (docs/api.md)."""
    site = await world.site(posts_per_minute_per_author=1)
    token = (await posted(http, "a", "only one", site=site))["guest_token"]
    assert_retry_after(await post(http, "a", "a second", site=site, token=token))
    # Duplicate and rate limited: duplicate.
    assert_error(await post(http, "a", "only one", site=site, token=token), 409, "duplicate")
    # Closed, duplicate and rate limited: closed.
    await world.server.node.store.set_article_state(site, "a", closed=True)
    assert_error(await post(http, "a", "only one", site=site, token=token), 403, "closed")


# -- single sign-on -------------------------------------------------------------------


@MODULE
async def test_sso_user_posts_as_site_and_sub(http: httpx.AsyncClient) -> None:
    sso = bearer(sso_token("u-42", "  Sam Reader "))
    r = await post(http, "sso", "signed in", headers=sso, name="Mallory")
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"comment"}  # no guest token for signed-in readers
    assert r.json()["comment"]["author"] == {"id": "news:u-42", "name": "Sam Reader"}
    # The same user again: the same author.
    again = (await posted(http, "sso", "again", headers=sso, name=None))["comment"]
    assert again["author"]["id"] == "news:u-42"


BAD_TOKENS: dict[str, tuple[str, str]] = {
    "expired": (sso_token(expires_in=-300), "token_expired"),
    "wrong-secret": (sso_token(secret="another-partners-secret-0123456789ab"), "invalid_token"),
    "alg-none": (unsigned_token(), "invalid_token"),
    "missing-sub": (sso_token(drop=("sub",)), "invalid_token"),
    "missing-name": (sso_token(drop=("name",)), "invalid_token"),
    "missing-exp": (sso_token(drop=("exp",)), "invalid_token"),
    "empty-sub": (sso_token(sub=""), "invalid_token"),
    "blank-name": (sso_token(name="   "), "invalid_token"),
    "sub-too-long": (sso_token(sub="u" * 300), "invalid_token"),
    "sub-with-nul": (sso_token(sub="u\x00"), "invalid_token"),
    "not-a-jwt": ("abc.def.ghi", "invalid_token"),
}


@MODULE
@pytest.mark.parametrize(("token", "code"), list(BAD_TOKENS.values()), ids=BAD_TOKENS)
async def test_invalid_sso_token_is_401(
    world: World, http: httpx.AsyncClient, token: str, code: str
) -> None:
    before = await stored_rows(world.server.node.store)
    r = await post(http, "sso/bad", "hello", headers=bearer(token), name="Ana")
    assert_error(r, 401, code)
    assert await stored_rows(world.server.node.store) == before
    assert (await listing(http, "sso/bad"))["comments"] == []


@MODULE
async def test_two_sso_secrets_during_rotation(world: World, http: httpx.AsyncClient) -> None:
    site = await world.site(guests=False, sso_secrets=[SSO_SECRET, OLD_SSO_SECRET])
    authors = set()
    for secret in (SSO_SECRET, OLD_SSO_SECRET):
        sso = bearer(sso_token("rotating", "Ro", secret=secret))
        comment = (await posted(http, "r", f"with {secret[-8:]}", site=site, headers=sso))[
            "comment"
        ]
        authors.add(comment["author"]["id"])
    assert authors == {f"{site}:rotating"}
    stale = bearer(sso_token("rotating", "Ro", secret="retired-secret-0123456789abcdefgh"))
    assert_error(await post(http, "r", "old", site=site, headers=stale), 401, "invalid_token")
    # Guests are off on this site: the same post without the token is refused.
    assert_error(await post(http, "r", "anon", site=site), 401, "unauthenticated")


# -- health and unknown routes ----------------------------------------------------------


@MODULE
async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    r = await http.get("/healthz")
    assert r.status_code == 200
    r = await http.get("/readyz")
    assert r.status_code == 200, r.text
    ready = r.json()
    assert set(ready) >= {"database", "broker", "classifier"}
    assert ready["database"]["state"] == "ok" and ready["broker"]["state"] == "ok"
    classifier = ready["classifier"]
    assert set(classifier) >= {"name", "state", "detail"}
    assert classifier["state"] in ("ok", "fallback", "failed")
    assert isinstance(classifier["name"], str) and isinstance(classifier["detail"], str)


@MODULE
async def test_unknown_routes_are_json_errors(http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/api/v1/nothing/here"), 404, "not_found")
    assert_error(await http.get("/api/v1/sites/news"), 404, "not_found")
    assert_error(await http.put(comments_url("x"), json={}), 405, "method_not_allowed")
    # A comment id takes DELETE and PATCH (an edit) only.
    r = await http.put(comments_url("x") + "/abc", json={})
    assert_error(r, 405, "method_not_allowed")
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"DELETE", "PATCH"}


@MODULE
async def test_author_object_is_stable_across_reads(world: World, http: httpx.AsyncClient) -> None:
    """A guest id the server issued, stored with the comment: listing and posting agree."""
    store = world.server.node.store
    author, token = await store.create_guest("news", "Pre-made")
    comment = (await posted(http, "stable", "hi", token=token, name=None))["comment"]
    assert comment["author"] == {"id": author.id, "name": "Pre-made"}
    assert (await listing(http, "stable"))["comments"] == [comment]
    assert Author(**comment["author"]) == author
