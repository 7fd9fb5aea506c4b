"""Partner sign-in tokens (HS256 JWTs): every known way to forge, stretch or bend one is
refused with 401 and posts nothing; the real thing, and clock drift within the leeway,
are accepted (so the table cannot pass by refusing everything)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from comments.settings import Settings
from tests.conftest import RunningServer, add_site

SECRET = "partner-secret-0123456789-abcdefghij"  # 36 bytes: above HS256's 32
OTHER_SECRET = "another-site-secret-0123456789-abcdef"
THREAD = "/api/v1/sites/news/articles/a/comments"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(obj: object) -> str:
    return b64(json.dumps(obj).encode())


def token(
    claims: dict[str, Any] | None = None,
    *,
    header: dict[str, Any] | None = None,
    key: str | bytes = SECRET,
    digest: Callable[..., Any] = hashlib.sha256,
    signature: bytes | None = None,
) -> str:
    """A JWT built by hand, so that a test can write what no library would sign."""
    header = {"alg": "HS256", "typ": "JWT"} if header is None else header
    signing_input = f"{part(header)}.{part(good_claims() if claims is None else claims)}"
    if signature is None:
        raw_key = key.encode() if isinstance(key, str) else key
        signature = hmac.new(raw_key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


def good_claims(**changes: Any) -> dict[str, Any]:
    claims = {"sub": "reader-1", "name": "Ana", "exp": int(time.time()) + 600}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not ...}


def now() -> int:
    return int(time.time())


def case(make: Callable[[], str], name: str) -> Any:
    return pytest.param(make, id=name)


ATTACKER_KEY = b"attacker's own key, 32 bytes long!!"
# Each case makes its token when its test runs, so that times are relative to then.
ATTACKS: list[Any] = [
    case(lambda: token(header={"alg": "none", "typ": "JWT"}, signature=b""), "alg-none"),
    case(lambda: token(header={"alg": "None"}, signature=b""), "alg-None"),
    case(lambda: token(header={"alg": "NONE"}, signature=b""), "alg-NONE"),
    case(lambda: token(header={"alg": "none"}), "alg-none-with-a-valid-hmac"),
    case(lambda: token(header={"alg": "HS256"}, signature=b""), "signature-stripped"),
    # Algorithm confusion: the secret used as an HMAC key under another algorithm's name.
    case(lambda: token(header={"alg": "RS256", "typ": "JWT"}), "rs256-header-hmac-signed"),
    case(lambda: token(header={"alg": "ES256"}), "es256-header-hmac-signed"),
    case(
        lambda: token(header={"alg": "HS384"}, digest=hashlib.sha384),
        "hs384-signed-with-the-secret",
    ),
    case(
        lambda: token(header={"alg": "HS512"}, digest=hashlib.sha512),
        "hs512-signed-with-the-secret",
    ),
    # Keys the token brings along.
    case(
        lambda: token(
            header={"alg": "HS256", "jwk": {"kty": "oct", "k": b64(ATTACKER_KEY)}},
            key=ATTACKER_KEY,
        ),
        "jwk-embedded-key",
    ),
    case(
        lambda: token(
            header={"alg": "HS256", "jku": "https://evil.example/keys"}, key=ATTACKER_KEY
        ),
        "jku-remote-key",
    ),
    case(
        lambda: token(header={"alg": "HS256", "kid": "../../../../dev/null"}, key=b""),
        "kid-path-empty-key",
    ),
    case(lambda: token(key=OTHER_SECRET), "wrong-secret"),
    case(lambda: token(key=SECRET.upper()), "secret-case-changed"),
    # Time.
    case(lambda: token(good_claims(exp=now() - 3600)), "expired"),
    case(lambda: token(good_claims(exp=now() - 60)), "expired-beyond-leeway"),
    case(lambda: token(good_claims(nbf=now() + 3600)), "not-yet-valid-nbf"),
    case(lambda: token(good_claims(iat=now() + 3600)), "issued-in-the-future-iat"),
    case(lambda: token(good_claims(exp="tomorrow")), "exp-not-a-number"),
    case(lambda: token(good_claims(exp=None)), "exp-null"),
    # Claims.
    case(lambda: token(good_claims(sub=...)), "missing-sub"),
    case(lambda: token(good_claims(name=...)), "missing-name"),
    case(lambda: token(good_claims(exp=...)), "missing-exp"),
    case(lambda: token(good_claims(sub=42)), "sub-a-number"),
    case(lambda: token(good_claims(sub=["reader-1"])), "sub-a-list"),
    case(lambda: token(good_claims(sub="")), "sub-empty"),
    case(lambda: token(good_claims(sub="x" * 300)), "sub-too-long"),
    case(lambda: token(good_claims(name={"first": "Ana"})), "name-an-object"),
    case(lambda: token(good_claims(name="   ")), "name-blank"),
    case(lambda: token(good_claims(name="A\x00na")), "name-with-nul"),
    case(lambda: token(["not", "an", "object"]), "claims-a-list"),  # type: ignore[arg-type]
    # Not a JWT at all.
    case(lambda: "", "empty"),
    case(lambda: "garbage", "garbage"),
    case(lambda: "a.b.c", "three-garbage-parts"),
    case(lambda: "...", "dots"),
    case(lambda: token().rsplit(".", 1)[0], "two-parts"),
    case(lambda: token() + ".extra", "four-parts"),
    case(lambda: f"{b64(b'{not json')}.{part(good_claims())}.{b64(b'x')}", "header-not-json"),
    case(lambda: "é" * 40, "non-ascii"),
    case(lambda: "x" * 4000, "long"),
]


@pytest.fixture
async def server(sqlite_url: str, start_server: Any) -> RunningServer:
    # Guests off: a token is the only way in, so a refused one posts nothing.
    await add_site(sqlite_url, guests=False, sso_secrets=[SECRET])
    await add_site(sqlite_url, "other", guests=False, sso_secrets=[OTHER_SECRET])
    running: RunningServer = await start_server(
        Settings(database_url=sqlite_url, classifier="profanity-check", recover_interval_s=0)
    )
    return running


def auth(jwt: str) -> dict[str, bytes]:
    # Bytes: a token may hold what an ASCII header value cannot.
    return {"Authorization": f"Bearer {jwt}".rstrip().encode()}


async def post_with(http: httpx.AsyncClient, jwt: str, body: str) -> httpx.Response:
    return await http.post(THREAD, json={"body": body}, headers=auth(jwt))


@pytest.mark.parametrize("make", ATTACKS)
async def test_forged_and_broken_tokens_are_refused(
    server: RunningServer, make: Callable[[], str]
) -> None:
    jwt = make()  # now: times are relative to when the test runs
    async with server.client() as http:
        r = await post_with(http, jwt, "should never appear")
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] in ("invalid_token", "token_expired"), r.text
        # The same token cannot delete or report on the reader's behalf either.
        gone = await http.delete(f"{THREAD}/x", headers=auth(jwt))
        assert gone.status_code == 401
        listed = await http.get(THREAD)
    assert listed.json()["comments"] == []


@pytest.mark.parametrize(
    "make",
    [
        case(lambda: token(), "valid"),
        case(lambda: token(good_claims(exp=now() - 10)), "expired-within-leeway"),
        case(lambda: token(good_claims(nbf=now() + 10, iat=now() + 10)), "early-within-leeway"),
    ],
)
async def test_valid_tokens_and_small_clock_drift_are_accepted(
    server: RunningServer, make: Callable[[], str]
) -> None:
    jwt = make()
    async with server.client() as http:
        r = await post_with(http, jwt, "signed in")
        assert r.status_code == 201, r.text
    author = r.json()["comment"]["author"]
    assert author == {"id": "news:reader-1", "name": "Ana"}


async def test_other_ways_to_send_a_token_are_refused(server: RunningServer) -> None:
    good = token()
    async with server.client() as http:
        for header in (f"Basic {good}", f"Token {good}", "Bearer", good, f"Bearer {good} x"):
            r = await http.post(THREAD, json={"body": "hi"}, headers={"Authorization": header})
            assert r.status_code == 401, (header, r.text)
        # A token of another site's secret does not sign in here.
        other = token(key=OTHER_SECRET)
        assert (await post_with(http, other, "cross-site")).status_code == 401
        # A reader's token is not a moderator's.
        r = await http.get("/api/v1/moderation/sites/news/queue", headers=auth(good))
        assert r.status_code == 401
        assert (await http.get(THREAD)).json()["comments"] == []
