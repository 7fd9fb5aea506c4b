"""Atom feeds (docs/api.md, "Feeds"): valid Atom 1.0 of the latest published comments,
ETags and 304, article ids with slashes, nothing held or withdrawn, 404 for no site."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from urllib.parse import quote
from xml.etree import ElementTree as ET

import httpx
import pytest
import pytest_asyncio

from tests.api import api_settings, comments_url, module_database, running_server
from tests.conftest import RunningServer, add_site

MODULE = pytest.mark.asyncio(loop_scope="module")
A = "{http://www.w3.org/2005/Atom}"
GUEST = "X-Comments-Guest"


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgres"])
async def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_template: str
) -> AsyncIterator[tuple[RunningServer, str]]:
    async with module_database(request.param, tmp_path_factory, pg_template) as database_url:
        await add_site(database_url, "news")
        async with running_server(api_settings(database_url, "feeds")) as running:
            yield running, database_url


@pytest_asyncio.fixture(loop_scope="module")
async def http(server: tuple[RunningServer, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with server[0].client() as client:
        yield client


async def post(
    http: httpx.AsyncClient, article: str, body: str, site: str = "news", **fields: object
) -> dict[str, str]:
    r = await http.post(
        comments_url(article, site), json={"body": body, "author_name": "Ana <&>", **fields}
    )
    assert r.status_code == 201, r.text
    return {"id": r.json()["comment"]["id"], "token": r.json()["guest_token"]}


def feed_url(article: str | None, site: str = "news") -> str:
    if article is None:
        return f"/feeds/sites/{site}.atom"
    return f"/feeds/sites/{site}/articles/{quote(article, safe='/')}.atom"


def parse(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{A}feed"
    # RFC 4287 §4.1.1: a feed has exactly one id, title and updated; each entry too.
    for tag in ("id", "title", "updated"):
        assert len(root.findall(f"{A}{tag}")) == 1, tag
    for entry in root.findall(f"{A}entry"):
        for tag in ("id", "title", "updated"):
            assert len(entry.findall(f"{A}{tag}")) == 1, tag
        assert entry.find(f"{A}author/{A}name") is not None or root.find(f"{A}author") is not None
    return root


def bodies(root: ET.Element) -> list[str]:
    return [e.findtext(f"{A}content") or "" for e in root.findall(f"{A}entry")]


@MODULE
async def test_article_feed_lists_published_comments_newest_first(
    http: httpx.AsyncClient,
) -> None:
    article = f"2025/07/{secrets.token_hex(3)}"
    url = "https://partner.example/x?a=1&b=2"
    await post(http, article, "first <b>&amp; more", article_title="Lavrov & Kim", article_url=url)
    await post(http, article, "second\nline ]]> \x01")
    root = parse(await http.get(feed_url(article)))
    assert bodies(root) == ["second\nline ]]> ", "first <b>&amp; more"]
    entry = root.findall(f"{A}entry")[0]
    assert entry.findtext(f"{A}author/{A}name") == "Ana <&>"
    assert entry.findtext(f"{A}title") == "Ana <&> on Lavrov & Kim"
    assert entry.find(f"{A}link").get("href") == url  # type: ignore[union-attr]
    assert root.find(f"{A}link[@rel='alternate']").get("href") == url  # type: ignore[union-attr]


@MODULE
async def test_withdrawn_comments_leave_the_feed(http: httpx.AsyncClient) -> None:
    article = f"withdrawn/{secrets.token_hex(3)}"
    kept = await post(http, article, "kept")
    gone = await post(http, article, "gone")
    first = await http.get(feed_url(article))
    assert bodies(parse(first)) == ["gone", "kept"]
    r = await http.delete(comments_url(article) + f"/{gone['id']}", headers={GUEST: gone["token"]})
    assert r.status_code in (200, 204), r.text
    second = await http.get(feed_url(article))
    assert bodies(parse(second)) == ["kept"]
    assert second.headers["etag"] != first.headers["etag"]
    assert kept["id"] in second.text and gone["id"] not in second.text
    assert "gone" not in (await http.get(feed_url(None))).text


@MODULE
async def test_held_comments_never_appear(
    http: httpx.AsyncClient, server: tuple[RunningServer, str]
) -> None:
    site = f"s-{secrets.token_hex(4)}"
    await add_site(server[1], site, premoderated=True)
    await http.post(comments_url("held", site), json={"body": "awaiting", "author_name": "B"})
    root = parse(await http.get(feed_url("held", site)))
    assert bodies(root) == []
    assert bodies(parse(await http.get(feed_url(None, site)))) == []


@MODULE
async def test_etag_gives_304_until_a_new_comment(http: httpx.AsyncClient) -> None:
    article = f"etag-{secrets.token_hex(3)}"
    await post(http, article, "one")
    first = await http.get(feed_url(article))
    etag = first.headers["etag"]
    again = await http.get(feed_url(article), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    site_tag = (await http.get(feed_url(None))).headers["etag"]
    await post(http, article, "two")
    fresh = await http.get(feed_url(article), headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and bodies(parse(fresh))[0] == "two"
    site_fresh = await http.get(feed_url(None), headers={"If-None-Match": site_tag})
    assert site_fresh.status_code == 200 and "two" in bodies(parse(site_fresh))


@MODULE
async def test_unknown_site_is_404_and_unknown_article_is_empty(http: httpx.AsyncClient) -> None:
    for url in (feed_url(None, "no-such-site"), feed_url("a/b", "no-such-site")):
        r = await http.get(url)
        assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_site"
    assert bodies(parse(await http.get(feed_url("never/posted")))) == []
    r = await http.get("/feeds/sites/news/articles/no-suffix")
    assert r.status_code == 404 and "error" in r.json()
    # An id that itself ends in ".atom" still has its own feed.
    await post(http, "x.atom/y.atom", "dotted")
    assert bodies(parse(await http.get(feed_url("x.atom/y.atom")))) == ["dotted"]
