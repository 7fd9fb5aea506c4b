"""No request makes the server fail: schemathesis generates requests for every operation
of ``/openapi.json`` (valid and invalid ones: boundaries, wrong types, missing fields,
odd methods) against a real node with a seeded site, and not one answer may be a 5xx.

The contract has its own status codes (docs/api.md); only ``not_a_server_error`` is checked.
Path parameters are drawn half of the time from the seeded data (the site, an article, a
published and a held comment, a guest), so requests reach past the 404s into the use
cases. Deterministic: a fixed seed and 25 examples per operation.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from schemathesis.engine import events, from_schema

from comments.settings import Settings
from comments.web import openapi
from tests.conftest import RunningServer, add_site
from tests.moderation import CLEAN, TOXIC, Guest, bearer, posted

ARTICLE = "2025/07/lavrov-kim"
SSO_SECRET = "sso-secret-for-the-fuzzed-site-0123456789"


def fuzz(base_url: str, token: str, seeds: dict[str, list[str]]) -> tuple[list[str], Counter[str]]:
    """Run schemathesis (blocking: called in a thread while the server runs in the test's
    loop). Returns the failures and how many answers each operation got."""
    config = schemathesis.Config.from_dict(
        {
            "seed": 20261127,
            "base-url": base_url,
            "generation": {"max-examples": 25, "deterministic": True, "database": "none"},
            "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
            "suppress-health-check": ["all"],
            "dictionaries": {name: {"values": values} for name, values in seeds.items()},
            "parameters": {
                "path.site": {"dictionary": "site", "probability": 0.8},
                "path.article": {"dictionary": "article", "probability": 0.5},
                "path.id": {"dictionary": "id", "probability": 0.5},
                "path.author_id": {"dictionary": "author", "probability": 0.5},
                "header.X-Comments-Guest": {"dictionary": "guest", "probability": 0.5},
            },
            # The moderator's token on moderation routes only: elsewhere a bearer token
            # is a reader's sign-in token, and a moderator's would refuse every post.
            "operations": [
                {"include-path-regex": "^/api/v1/moderation/", "headers": bearer(token)},
            ],
            "phases": {"stateful": {"enabled": False}},
            "request-timeout": 10,
            "warnings": False,
        }
    )
    schema = schemathesis.openapi.from_dict(openapi.document(), config=config)
    failures: list[str] = []
    answers: Counter[str] = Counter()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for interaction in event.recorder.interactions.values():
                response = interaction.response
                if response is None:
                    failures.append(f"{event.recorder.label}: no answer")
                    continue
                answers[event.recorder.label] += 1
                if response.status_code >= 500:
                    request = interaction.request
                    failures.append(
                        f"{response.status_code} {request.method} {request.uri} "
                        f"body={request.body!r}: {response.content[:200]!r}"
                    )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"{type(event).__name__}: {event}")
    return failures, answers


@pytest.mark.timeout(240)
async def test_generated_requests_never_get_a_server_error(
    database_url: str, channel_prefix: str, start_server: Any
) -> None:
    await add_site(database_url, sso_secrets=[SSO_SECRET])
    server: RunningServer = await start_server(
        Settings(
            database_url=database_url,
            channel_prefix=channel_prefix,
            classifier="profanity-check",
            recover_interval_s=0,
        )
    )
    token = await server.node.review.add_moderator("news", "ana", role="admin")
    async with server.client() as http:
        guest = Guest("Seed")
        published = await posted(http, CLEAN, 201, guest=guest, article=ARTICLE)
        held = await posted(http, TOXIC, 202, article=ARTICLE)
    assert guest.token is not None and guest.author_id is not None
    seeds = {
        "site": ["news"],
        "article": [ARTICLE],
        "id": [published["id"], held["id"]],
        "author": [guest.author_id],
        "guest": [guest.token],
    }

    failures, answers = await asyncio.to_thread(fuzz, server.url, token, seeds)

    assert not failures, "\n".join(failures[:20])
    operations = {
        f"{method.upper()} {path}"
        for path, item in openapi.document()["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert set(answers) == operations  # every operation was exercised
    assert min(answers.values()) >= 5
    async with server.client() as http:  # and the node still serves
        assert (await http.get("/readyz")).status_code == 200


EDGES = [
    # Found by schemathesis: cursors beyond what the database column holds.
    pytest.param(
        "GET",
        "/api/v1/moderation/sites/news/audit?before=" + "9" * 30,
        {},
        200,
        id="audit-before-beyond-64-bits",
    ),
    pytest.param(
        "GET",
        "/api/v1/moderation/sites/news/audit?before=2147483648",
        {},
        200,
        id="audit-before-beyond-32-bits",
    ),
    pytest.param(
        "GET", "/api/v1/moderation/sites/news/audit?before=-1", {}, 422, id="audit-before-negative"
    ),
    # A time zone that carries the date past the calendar when stored in UTC.
    pytest.param(
        "POST",
        "BAN",
        {"until": "9999-12-31T23:59:59-14:00"},
        422,
        id="ban-until-after-year-9999-in-utc",
    ),
    pytest.param(
        "POST",
        "BAN",
        {"until": "0001-01-01T00:00:00+14:00"},
        422,
        id="ban-until-before-year-1-in-utc",
    ),
    pytest.param("POST", "BAN", {"until": "9999-12-31T23:59:59Z"}, 200, id="ban-until-year-9999"),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), EDGES)
async def test_edges_the_generator_found_or_rarely_reaches(
    database_url: str, start_server: Any, method: str, path: str, body: dict[str, Any], status: int
) -> None:
    await add_site(database_url)
    server: RunningServer = await start_server(
        Settings(database_url=database_url, classifier="profanity-check", recover_interval_s=0)
    )
    token = await server.node.review.add_moderator("news", "ana")
    async with server.client() as http:
        if path == "BAN":
            guest = Guest("Bo")
            await posted(http, CLEAN, 201, guest=guest)
            assert guest.author_id is not None
            path = f"/api/v1/moderation/sites/news/authors/{quote(guest.author_id)}/ban"
        r: httpx.Response = await http.request(
            method, path, json=body if method == "POST" else None, headers=bearer(token)
        )
    assert r.status_code == status, r.text
