"""Who may write (issue 13): JSON bodies only, from allowed origins; the order of checks
on posts; /readyz details; SSO refusals in our words and their maximum lifetime; bodies
and names that show nothing."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets
from starlette.routing import Route
from websockets.exceptions import InvalidStatus

from comments.settings import Settings, SettingsError
from comments.web.writes import WRITE_METHODS
from tests.api import (
    SSO_SECRET,
    api_settings,
    assert_error,
    bearer,
    comments_url,
    running_server,
    sso_token,
    stored_rows,
    unsigned_token,
)
from tests.conftest import RunningServer, add_site

PARTNER = "https://partner.example"  # the site's allowed origin (conftest OPEN_SITE)
OWN = "https://comments.example"  # COMMENTS_PUBLIC_URL here
THREAD = comments_url("a")
BODY = {"body": "hello", "author_name": "Ana"}


@pytest_asyncio.fixture
async def server(sqlite_url: str) -> AsyncIterator[RunningServer]:
    await add_site(sqlite_url, "news", sso_secrets=[SSO_SECRET])
    settings = api_settings(sqlite_url, "writes").with_(own_origins=(OWN,))
    async with running_server(settings) as running:
        yield running


@pytest_asyncio.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    # A plain client: these tests choose every write's Content-Type themselves.
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


def json_body(**headers: str) -> dict[str, Any]:
    return {
        "content": json.dumps(BODY),
        "headers": {"Content-Type": "application/json", **headers},
    }


# -- content type ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/json-seq",
    ],
)
async def test_a_post_that_is_not_json_is_415_and_stores_nothing(
    server: RunningServer, http: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    before = await stored_rows(server.node.store)
    r = await http.post(THREAD, content=json.dumps(BODY), headers=headers)
    assert_error(r, 415, "unsupported_media_type")
    assert await stored_rows(server.node.store) == before


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
async def test_json_with_or_without_charset_is_taken(
    http: httpx.AsyncClient, content_type: str
) -> None:
    r = await http.post(THREAD, **json_body(**{"Content-Type": content_type}))
    assert r.status_code == 201, r.text


# -- origin ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        (None, 201),  # servers and apps send none
        (PARTNER, 201),
        (OWN, 201),
        ("https://PARTNER.example:443", 201),  # compared normalised
        ("https://evil.example", 403),
        ("http://partner.example", 403),
        ("null", 403),
    ],
)
async def test_a_write_from_an_origin_the_site_does_not_allow_is_403(
    server: RunningServer, http: httpx.AsyncClient, origin: str | None, status: int
) -> None:
    before = await stored_rows(server.node.store)
    r = await http.post(THREAD, **json_body(**({"Origin": origin} if origin else {})))
    if status == 403:
        assert_error(r, 403, "origin_not_allowed")
        assert await stored_rows(server.node.store) == before
    else:
        assert r.status_code == status, r.text


async def test_the_host_header_does_not_make_an_origin_the_servers_own(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    r = await http.post(THREAD, **json_body(Origin="http://evil.example", Host="evil.example"))
    assert_error(r, 403, "origin_not_allowed")


async def test_every_write_route_of_the_api_refuses_other_content_and_origins(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    """Whatever write routes the API grows: each refuses a text/plain body (415) and a
    foreign Origin (403) once it knows the site (and the moderator)."""
    token = await server.node.review.add_moderator("news", "ana")
    params = {"site": "news", "article": "a", "id": "x", "author_id": "g_x"}
    writes = [
        (method, re.sub(r"{(\w+)(:\w+)?}", lambda m: params[m.group(1)], route.path))
        for route in server.app.routes
        if isinstance(route, Route)
        and route.path.startswith("/api/")
        # RFC 8058's one-click unsubscribe is a form POST by mail clients, authorised by
        # the signed token it carries (comments/web/mail.py).
        and route.path != "/api/v1/mail/unsubscribe"
        for method in sorted((route.methods or set()) & WRITE_METHODS)
    ]
    assert len(writes) >= 8, writes
    for method, path in writes:
        auth = bearer(token)
        plain = await http.request(
            method, path, content=b"{}", headers={**auth, "Content-Type": "text/plain"}
        )
        assert_error(plain, 415, "unsupported_media_type")
        foreign = await http.request(
            method,
            path,
            content=b"{}",
            headers={**auth, "Content-Type": "application/json", "Origin": "https://evil.example"},
        )
        assert_error(foreign, 403, "origin_not_allowed")


async def test_moderation_writes_come_from_the_servers_own_origin_or_no_browser(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    token = await server.node.review.add_moderator("news", "ben")
    url = "/api/v1/moderation/tickets"
    json_type = {"Content-Type": "application/json"}
    for origin in (PARTNER, "null", "https://evil.example"):  # a partner is not the console
        r = await http.post(url, headers={**bearer(token), **json_type, "Origin": origin})
        assert_error(r, 403, "origin_not_allowed")
    for extra in ({}, {"Origin": OWN}):
        r = await http.post(url, headers={**bearer(token), **json_type, **extra})
        assert r.status_code == 200, r.text
    # The token is checked first: no token, 401 whatever else is wrong.
    assert_error(
        await http.post(url, headers={"Origin": "https://evil.example"}), 401, "unauthenticated"
    )


async def test_the_moderation_socket_opens_from_the_servers_own_origin_only(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    token = await server.node.review.add_moderator("news", "cleo")
    json_type = {"Content-Type": "application/json"}

    async def ticket() -> str:
        r = await http.post("/api/v1/moderation/tickets", headers={**bearer(token), **json_type})
        assert r.status_code == 200, r.text
        value: str = r.json()["ticket"]
        return value

    for origin in (PARTNER, "null", "https://evil.example"):
        url = f"{server.ws_url}/ws/v1/moderation/sites/news?ticket={await ticket()}"
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(url, additional_headers={"Origin": origin})
        assert refused.value.response.status_code == 403
        # Refused before the ticket was looked at: it is still good.
        async with websockets.connect(url):
            pass
    url = f"{server.ws_url}/ws/v1/moderation/sites/news?ticket={await ticket()}"
    async with websockets.connect(url, additional_headers={"Origin": OWN}):
        pass


# -- order of checks ---------------------------------------------------------------------


async def test_posts_check_size_address_limit_site_then_content_type_and_origin(
    sqlite_url: str,
) -> None:
    """docs/api.md: size (413), per-address rate limit (429), site (404), content type
    (415) and origin (403), parsing (400), validation (422), identity (401)..."""
    await add_site(sqlite_url, "news", posts_per_minute_per_ip=2)
    settings = api_settings(sqlite_url, "order")
    async with running_server(settings) as server, server.client() as http:
        foreign = {"Origin": "https://evil.example"}
        # Site (404) before content type (415) and origin (403).
        r = await http.post(
            comments_url("a", "nosuch"), content=b"x", headers={"Content-Type": "text/plain"}
        )
        assert_error(r, 404, "unknown_site")
        # Content type (415) before origin (403) before parsing (400) before validation.
        r = await http.post(THREAD, content=b"{", headers={"Content-Type": "text/plain", **foreign})
        assert_error(r, 415, "unsupported_media_type")
        assert_error(
            await http.post(THREAD, content=b"{", headers=foreign), 403, "origin_not_allowed"
        )
        # That was 2 attempts from this address: the limit (2 a minute) counts them all,
        # refused or not, and comes before the rest.
        r = await http.post(THREAD, content=b"x" * (70 * 1024))
        assert_error(r, 413, "too_large")  # size first, not counted
        r = await http.post(THREAD, content=b"{", headers={"Content-Type": "text/plain", **foreign})
        assert_error(r, 429, "rate_limited")
        assert r.headers["retry-after"]
        assert (await stored_rows(server.node.store))[0] == 0


# -- /readyz -----------------------------------------------------------------------------


@pytest.mark.parametrize("allowed", [True, False], ids=["metrics-address", "anyone"])
async def test_readyz_details_only_for_the_metrics_addresses(
    sqlite_url: str, allowed: bool
) -> None:
    # A broker that cannot be reached and a classifier whose weights are missing: both
    # details name an address or a path.
    settings = api_settings(sqlite_url, "ready").with_(
        broker_url="redis://127.0.0.1:9/0",
        classifier="detoxify",
        detoxify_checkpoint="/nonexistent/secret-folder/model.ckpt",
        metrics_allow="127.0.0.1,::1" if allowed else "10.0.0.0/8",
    )
    async with running_server(settings) as server, server.client() as http:
        r = await http.get("/readyz")
    assert r.status_code == 503
    ready = r.json()
    assert set(ready) == {"database", "broker", "classifier"}
    assert ready["database"]["state"] == "ok" and ready["broker"]["state"] == "failed"
    assert set(ready["classifier"]) == {"name", "state", "detail"}
    assert ready["classifier"]["state"] == "failed"
    text = r.text
    if allowed:
        assert "127.0.0.1:9" in text or ":9" in ready["broker"]["detail"], ready
        assert "secret-folder" in text, ready
    else:
        assert "127.0.0.1" not in text and ":9" not in text, ready
        assert "secret-folder" not in text and "/" not in ready["classifier"]["detail"], ready
        assert ready["broker"]["detail"]  # a phrase, no particulars


# -- single sign-on ----------------------------------------------------------------------


def _jwt(claims: dict[str, Any], *, secret: str = SSO_SECRET) -> str:
    import jwt

    return jwt.encode(claims, secret, algorithm="HS256")


def _claims(**changes: Any) -> dict[str, Any]:
    base = {"sub": "u1", "name": "Sam", "exp": int(time.time()) + 600}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


SSO_REFUSALS: dict[str, tuple[Any, str, str]] = {
    "expired": (lambda: _jwt(_claims(exp=int(time.time()) - 3600)), "token_expired", "expired"),
    "not-yet-valid": (
        lambda: _jwt(_claims(nbf=int(time.time()) + 3600)),
        "invalid_token",
        "not valid yet",
    ),
    "bad-signature": (
        lambda: _jwt(_claims(), secret="another-partners-secret-0123456789ab"),
        "invalid_token",
        "signature does not match",
    ),
    "missing-sub": (lambda: _jwt(_claims(sub=None)), "invalid_token", "lacks the sub claim"),
    "missing-exp": (lambda: _jwt(_claims(exp=None)), "invalid_token", "lacks the exp claim"),
    "wrong-algorithm": (
        lambda: unsigned_token(),  # alg "none"
        "invalid_token",
        "not signed with HS256",
    ),
    "malformed": (lambda: "abc.def.ghi", "invalid_token", "malformed"),
    "exp-not-a-number": (lambda: _jwt(_claims(exp="soon")), "invalid_token", "malformed"),
    "lives-forever": (
        lambda: _jwt(_claims(exp=253402300799)),  # 9999-12-31
        "invalid_token",
        "expires more than 30 days ahead",
    ),
}
# What PyJWT says: never repeated to clients.
LIBRARY_WORDS = (
    "Signature has expired",
    "Not enough segments",
    "Invalid",
    "alg value",
    "must be an integer",
    "Token is missing",
    "is not allowed",
    "padding",
)


@pytest.mark.parametrize("case", SSO_REFUSALS.values(), ids=SSO_REFUSALS.keys())
async def test_sso_refusals_say_which_check_failed_in_our_words(
    server: RunningServer, http: httpx.AsyncClient, case: tuple[Any, str, str]
) -> None:
    make, code, words = case
    r = await http.post(THREAD, **json_body(**bearer(make())))
    message = assert_error(r, 401, code)["error"]["message"]
    assert words in message, message
    assert not any(w in message for w in LIBRARY_WORDS), message


async def test_sso_tokens_within_the_maximum_lifetime_are_taken(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    token = sso_token(expires_in=29 * 86400)
    r = await http.post(THREAD, **json_body(**bearer(token)))
    assert r.status_code == 201, r.text


def test_sso_maximum_lifetime_and_public_url_settings() -> None:
    assert Settings.from_env({}).sso_max_ttl_s == 30 * 86400
    assert Settings.from_env({"COMMENTS_SSO_MAX_TTL_S": "3600"}).sso_max_ttl_s == 3600
    assert Settings.from_env({}).own_origins == ()
    public = Settings.from_env({"COMMENTS_PUBLIC_URL": "https://Comments.Example.com:443/"})
    assert public.own_origins == ("https://comments.example.com",)
    assert public.serving_at("127.0.0.1", 8000) == public  # configured wins
    for bad in ("comments.example.com", "ftp://x.example", "https://x.example/path"):
        with pytest.raises(SettingsError, match="COMMENTS_PUBLIC_URL"):
            Settings.from_env({"COMMENTS_PUBLIC_URL": bad})
    laptop = Settings().serving_at("127.0.0.1", 8000).own_origins
    assert laptop == ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000")
    assert Settings().serving_at("0.0.0.0", 9000).own_origins[0] == "http://127.0.0.1:9000"
    assert Settings().serving_at("192.0.2.7", 80).own_origins == ("http://192.0.2.7",)


# -- bodies and names that show nothing ---------------------------------------------------

INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u202e\u2066 \u3164\u2800"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"body": INVISIBLE, "author_name": "Ana"}, "empty_body"),
        ({"body": "\u200b", "author_name": "Ana"}, "empty_body"),
        ({"body": "hello", "author_name": INVISIBLE}, "invalid_author_name"),
        ({"body": "hello", "author_name": "\ufeff\u200b"}, "invalid_author_name"),
        ({"body": "hello", "author_name": "\u202e\u2067"}, "invalid_author_name"),
    ],
    ids=[
        "body-of-format-characters",
        "body-zero-width-space",
        "name-of-format-characters",
        "name-bom-and-zwsp",
        "name-only-direction-controls",
    ],
)
async def test_bodies_and_names_that_show_nothing_are_422(
    server: RunningServer, http: httpx.AsyncClient, payload: dict[str, str], code: str
) -> None:
    before = await stored_rows(server.node.store)
    r = await http.post(
        THREAD, content=json.dumps(payload), headers={"Content-Type": "application/json"}
    )
    assert_error(r, 422, code)
    assert await stored_rows(server.node.store) == before


async def test_direction_controls_are_stripped_from_names_and_bodies_kept_as_typed(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    body = "a\u200db \u202equoted\u202c"
    payload = {"body": body, "author_name": "Ana\u202eevil\u2066x\u2069"}
    r = await http.post(
        THREAD, content=json.dumps(payload), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 201, r.text
    comment = r.json()["comment"]
    assert comment["author"]["name"] == "Anaevilx"
    assert comment["body"] == body
    signed = sso_token(sub="rtl", name="\u202eBoss\u202c")
    r = await http.post(THREAD, **json_body(**bearer(signed)))
    assert r.status_code == 201, r.text
    assert r.json()["comment"]["author"]["name"] == "Boss"
    blank = sso_token(sub="blank", name="\u200b\u202e")
    assert_error(await http.post(THREAD, **json_body(**bearer(blank))), 401, "invalid_token")
