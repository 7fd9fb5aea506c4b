"""Bad posts are refused with the right status and JSON error, and nothing is stored.

docs/api.md: "Checks run in this order: size (413), site (404), body parsing (400),
validation (422), identity (401/403), article state, duplicate, rate limits". The cases
that combine two faults pin that order: the answer is the earlier check's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

from tests.api import (
    SSO_SECRET,
    api_settings,
    assert_error,
    bearer,
    comments_url,
    module_database,
    running_server,
    sso_token,
    stored_rows,
)
from tests.conftest import RunningServer, add_site

LIMIT = 64 * 1024


# One server per database for the whole module: the table is long and each case is a
# single cheap request; every case has its own article, and row counts are compared
# before and after each request.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass(frozen=True)
class World:
    server: RunningServer
    seed_id: str  # a published comment of another article ("news", "other")
    guest_token: str  # the guest who wrote it


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgres"])
async def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_template: str
) -> AsyncIterator[World]:
    async with module_database(request.param, tmp_path_factory, pg_template) as database_url:
        await add_site(database_url, "news", sso_secrets=[SSO_SECRET])
        await add_site(database_url, "members", guests=False, sso_secrets=[SSO_SECRET])
        await add_site(database_url, "forum")
        async with running_server(api_settings(database_url, "bad-input")) as server:
            async with server.client() as http:
                r = await http.post(
                    comments_url("other"), json={"body": "seed", "author_name": "Seed"}
                )
            assert r.status_code == 201, r.text
            yield World(server, r.json()["comment"]["id"], r.json()["guest_token"])


def json_of_size(size: int) -> bytes:
    """A valid post whose encoded request body is exactly ``size`` bytes."""
    empty = json.dumps({"body": "", "author_name": "Ana"}).encode()
    raw = json.dumps({"body": "x" * (size - len(empty)), "author_name": "Ana"}).encode()
    assert len(raw) == size
    return raw


@dataclass(frozen=True)
class Case:
    status: int
    code: str
    payload: Any = None  # JSON-encoded unless bytes; "$SEED" → the seed comment's id
    headers: dict[str, str] = field(default_factory=dict)  # "$GUEST" → a valid guest token
    site: str = "news"
    article: str | None = None  # None: an article of the case's own, listed afterwards
    chunked: bool = False  # send without Content-Length (Transfer-Encoding: chunked)
    closed: bool = False  # the target article is closed before the post


def ok(**fields: Any) -> dict[str, Any]:
    """A post that passes every check, with ``fields`` changed."""
    return {"body": "a fine comment", "author_name": "Ana", **fields}


BAD_GUEST = {"X-Comments-Guest": "not-a-token-we-issued"}
CASES: dict[str, Case] = {
    # -- body parsing (400) ----------------------------------------------------------
    "empty-request": Case(400, "invalid_json", b""),
    "invalid-json": Case(400, "invalid_json", b'{"body": "hi", '),
    "json-list": Case(400, "invalid_json", [ok()]),
    "json-string": Case(400, "invalid_json", "a fine comment"),
    "json-null": Case(400, "invalid_json", None),
    "invalid-utf8": Case(400, "invalid_json", b'{"body": "caf\xe9 \xff", "author_name": "Ana"}'),
    "deeply-nested-json": Case(400, "invalid_json", b"[" * 30_000 + b"]" * 30_000),
    "huge-number-literal": Case(
        400, "invalid_json", b'{"body": "hi", "author_name": "Ana", "n": ' + b"9" * 5000 + b"}"
    ),
    # -- validation (422) ------------------------------------------------------------
    "body-empty": Case(422, "empty_body", ok(body="")),
    "body-whitespace-only": Case(422, "empty_body", ok(body=" \n\t\u3000 ")),
    "body-missing": Case(422, "invalid_body", {"author_name": "Ana"}),
    "body-null": Case(422, "invalid_body", ok(body=None)),
    "body-number": Case(422, "invalid_body", ok(body=5)),
    "body-object": Case(422, "invalid_body", ok(body={"text": "hi"})),
    "body-5001-chars": Case(422, "body_too_long", ok(body="x" * 5001)),
    "body-5001-chars-non-ascii": Case(422, "body_too_long", ok(body="é" * 5001)),
    "body-with-nul": Case(422, "invalid_body", ok(body="before\x00after")),
    "body-lone-surrogate": Case(
        422, "invalid_body", b'{"body": "broken \\ud800 pair", "author_name": "Ana"}'
    ),
    "parent-number": Case(422, "invalid_body", ok(parent=7)),
    "parent-unknown": Case(422, "unknown_parent", ok(parent="no-such-comment")),
    "parent-of-another-article": Case(422, "unknown_parent", ok(parent="$SEED")),
    "author-name-list": Case(422, "invalid_body", ok(author_name=[])),
    "author-name-empty": Case(422, "invalid_author_name", ok(author_name="")),
    "author-name-whitespace": Case(422, "invalid_author_name", ok(author_name="   ")),
    "author-name-65-chars": Case(422, "invalid_author_name", ok(author_name="n" * 65)),
    "article-201-chars": Case(422, "invalid_article", ok(), article="a" * 201),
    "article-with-nul": Case(422, "invalid_article", ok(), article="bad%00id"),
    # -- unknown site (404) ----------------------------------------------------------
    "unknown-site": Case(404, "unknown_site", ok(), site="nope"),
    "site-not-a-slug": Case(404, "unknown_site", ok(), site="News_Site"),
    # -- size (413) ------------------------------------------------------------------
    "over-64kb-content-length": Case(413, "too_large", json_of_size(LIMIT + 1)),
    "over-64kb-chunked": Case(413, "too_large", json_of_size(LIMIT + 1), chunked=True),
    "64kb-exactly-is-not-too-large": Case(422, "body_too_long", json_of_size(LIMIT)),
    # -- identity (401) --------------------------------------------------------------
    "guest-on-site-without-guests": Case(401, "unauthenticated", ok(), site="members"),
    "guest-token-on-site-without-guests": Case(
        401, "guests_disabled", ok(), headers={"X-Comments-Guest": "$GUEST"}, site="members"
    ),
    "no-identity": Case(401, "unauthenticated", {"body": "a fine comment"}),
    "invalid-guest-token": Case(401, "invalid_guest_token", ok(), headers=BAD_GUEST),
    "guest-token-of-another-site": Case(
        401, "invalid_guest_token", ok(), headers={"X-Comments-Guest": "$GUEST"}, site="forum"
    ),
    "authorization-not-bearer": Case(
        401, "invalid_token", ok(), headers={"Authorization": "Basic YTpi"}
    ),
    "bearer-garbage": Case(401, "invalid_token", ok(), headers=bearer("not.a.jwt")),
    # -- two faults: the earlier check answers ----------------------------------------
    "413-before-404": Case(413, "too_large", json_of_size(LIMIT + 1), site="nope"),
    "413-before-404-chunked": Case(
        413, "too_large", json_of_size(LIMIT + 1), site="nope", chunked=True
    ),
    "404-before-400": Case(404, "unknown_site", b"{not json", site="nope"),
    "400-before-401": Case(400, "invalid_json", b'["no identity either"]'),
    "400-before-401-bad-token": Case(400, "invalid_json", b"{", headers=BAD_GUEST),
    "422-before-401-no-identity": Case(422, "body_too_long", {"body": "x" * 5001}),
    "422-before-401-bad-token": Case(422, "empty_body", ok(body=" "), headers=BAD_GUEST),
    "422-before-401-guests-off": Case(422, "unknown_parent", ok(parent="zz"), site="members"),
    "401-before-closed": Case(401, "invalid_guest_token", ok(), headers=BAD_GUEST, closed=True),
    "401-before-closed-no-identity": Case(
        401, "unauthenticated", {"body": "a fine comment"}, closed=True
    ),
}


def _fill(value: Any, world: World) -> Any:
    if value == "$SEED":
        return world.seed_id
    if value == "$GUEST":
        return world.guest_token
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return value


async def _chunks(raw: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


@pytest.mark.parametrize("case_id", list(CASES))
async def test_bad_post_is_refused_and_nothing_is_stored(world: World, case_id: str) -> None:
    case = CASES[case_id]
    server = world.server
    store = server.node.store
    target = case.article or f"2025/07/{case_id}"
    if case.closed:
        await store.set_article_state(case.site, target, closed=True)
    before = await stored_rows(store)
    payload = _fill(case.payload, world)
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **_fill(case.headers, world)}

    async with server.client() as http:
        content: Any = _chunks(raw) if case.chunked else raw
        r = await http.post(comments_url(target, case.site), content=content, headers=headers)
        assert_error(r, case.status, case.code)

        # Nothing reached readers, and nothing was written.
        if case.article is None:
            for site in ("news", "members", "forum"):
                listed = await http.get(comments_url(target, site))
                assert listed.status_code == 200
                assert listed.json() == {"comments": [], "next": None, "latest_seq": 0}
            counts = await http.get("/api/v1/sites/news/counts", params={"article": target})
            assert counts.json() == {"counts": {target: 0}}
    assert await stored_rows(store) == before


async def test_body_of_5000_characters_is_accepted(world: World) -> None:
    """The other side of the 5,001 boundary, counted in characters after trimming."""
    async with world.server.client() as http:
        for body in ("x" * 5000, "  " + "é" * 5000 + "\n"):
            r = await http.post(comments_url("long"), json=ok(body=body))
            assert r.status_code == 201, r.text
            assert r.json()["comment"]["body"] == body.strip()
        listed = (await http.get(comments_url("long"))).json()
    assert [len(c["body"]) for c in listed["comments"]] == [5000, 5000]


QUERIES: dict[str, dict[str, str]] = {
    "order-sideways": {"order": "sideways"},
    "after-negative": {"after": "-1"},
    "after-not-a-number": {"after": "ten"},
    "after-beyond-64-bits": {"after": "9" * 30},
    "before-negative-newest": {"order": "newest", "before": "-5"},
    "before-beyond-64-bits": {"order": "newest", "before": str(2**63)},
    "limit-abc": {"limit": "abc"},
    "limit-zero": {"limit": "0"},
    "limit-negative": {"limit": "-3"},
    "limit-fraction": {"limit": "2.5"},
}


@pytest.mark.parametrize("query", list(QUERIES.values()), ids=list(QUERIES))
async def test_bad_query_parameters_are_422(world: World, query: dict[str, str]) -> None:
    async with world.server.client() as http:
        # On an article with comments too: the check must not depend on the data.
        for article in ("never-commented", "other"):
            r = await http.get(comments_url(article), params=query)
            assert_error(r, 422, "invalid_parameter")


async def test_bad_counts_requests_are_422(world: World) -> None:
    async with world.server.client() as http:
        r = await http.get(
            "/api/v1/sites/news/counts", params=[("article", "x" * 201), ("article", "ok")]
        )
        assert_error(r, 422, "invalid_article")
        r = await http.get("/api/v1/sites/news/counts", params={"article": "bad\x00id"})
        assert_error(r, 422, "invalid_article")
        r = await http.get(
            "/api/v1/sites/news/counts", params=[("article", str(i)) for i in range(101)]
        )
        assert_error(r, 422, "too_many_articles")
        r = await http.get("/api/v1/sites/nope/counts", params={"article": "a"})
        assert_error(r, 404, "unknown_site")


async def test_sso_token_is_checked_after_validation(world: World) -> None:
    """A valid sign-in does not let an invalid body through, and an invalid sign-in on a
    valid body is 401, on a site without guests too."""
    before = await stored_rows(world.server.node.store)
    async with world.server.client() as http:
        r = await http.post(
            comments_url("sso", "members"), json={"body": ""}, headers=bearer(sso_token())
        )
        assert_error(r, 422, "empty_body")
        r = await http.post(
            comments_url("sso", "members"),
            json={"body": "hello"},
            headers=bearer(sso_token(secret="x" * 40)),
        )
        assert_error(r, 401, "invalid_token")
        listed = await http.get(comments_url("sso", "members"))
    assert listed.json()["comments"] == []
    assert await stored_rows(world.server.node.store) == before
