"""The reply e-mail endpoints with mail on (a real aiosmtpd server): schemathesis's
generated requests never get a 5xx (tests/security fuzzes them with mail off)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import events, from_schema

from comments.settings import Settings
from comments.web import openapi
from tests.conftest import OPEN_SITE, add_site, api_client
from tests.integrations.test_mail import Inbox, serve


def fuzz(base_url: str, guest: str) -> tuple[list[str], Counter[str]]:
    config = schemathesis.Config.from_dict(
        {
            "seed": 20261204,
            "base-url": base_url,
            "generation": {"max-examples": 25, "deterministic": True, "database": "none"},
            "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
            "suppress-health-check": ["all"],
            "dictionaries": {"site": {"values": ["news"]}, "guest": {"values": [guest]}},
            "parameters": {
                "path.site": {"dictionary": "site", "probability": 0.8},
                "header.X-Comments-Guest": {"dictionary": "guest", "probability": 0.7},
            },
            "phases": {"stateful": {"enabled": False}},
            "request-timeout": 10,
            "warnings": False,
        }
    )
    document = openapi.document()
    document["paths"] = {p: item for p, item in document["paths"].items() if "/mail/" in p}
    schema = schemathesis.openapi.from_dict(document, config=config)
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
                    failures.append(
                        f"{response.status_code} {interaction.request.method} "
                        f"{interaction.request.uri}: {response.content[:200]!r}"
                    )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"{type(event).__name__}: {event}")
    return failures, answers


@pytest.mark.timeout(240)
async def test_mail_endpoints_never_answer_5xx(
    sqlite_url: str, channel_prefix: str, start_server: Any
) -> None:
    await add_site(sqlite_url, "news", **OPEN_SITE)
    for port in serve(Inbox()):
        server = await start_server(
            Settings(
                database_url=sqlite_url,
                broker_url="memory://",
                channel_prefix=channel_prefix,
                smtp_url=f"smtp://127.0.0.1:{port}",
                mail_from="c@news.example",
                recover_interval_s=0,
            )
        )
        async with api_client(server.url) as http:
            r = await http.post(
                "/api/v1/sites/news/articles/a/comments",
                json={"body": "seed", "author_name": "Seed"},
            )
            guest = r.json()["guest_token"]
        failures, answers = await asyncio.to_thread(fuzz, server.url, guest)
        assert not failures, "\n".join(failures[:20])
        assert len(answers) == 4 and min(answers.values()) >= 5
