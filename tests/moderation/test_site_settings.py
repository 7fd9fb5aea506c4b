"""A site's settings for its admins (docs/api.md, "Site settings"): admins only,
validated as ``comments site set`` validates, all or nothing, each change audited with
old and new values; SSO secrets never shown."""

from __future__ import annotations

from typing import Any

import pytest

from comments.settings import Settings
from tests.conftest import RunningServer, add_site
from tests.moderation import Moderator, bearer, mod_settings, new_moderator, post

SECRET = "s" * 40
URL = "/api/v1/moderation/sites/news/settings"


@pytest.fixture
async def server(database_url: str, channel_prefix: str, start_server: Any) -> RunningServer:
    await add_site(database_url, sso_secrets=[SECRET])
    settings: Settings = mod_settings(database_url, "memory://", channel_prefix)
    running: RunningServer = await start_server(settings)
    return running


async def test_admins_read_and_change_settings_with_an_audit_trail(server: RunningServer) -> None:
    async with server.client() as http:
        token = await server.node.review.add_moderator("news", "ada", role="admin")
        ada = Moderator(http, token)
        mod = await new_moderator(server, http, "max")
        for method, body in (("GET", None), ("PATCH", {"guests": False})):
            r = await http.request(method, URL, json=body, headers=bearer(mod.token))
            assert r.status_code == 403, r.text
            assert r.json()["error"]["code"] == "forbidden"

        r = await http.get(URL, headers=bearer(ada.token))
        assert r.status_code == 200, r.text
        shown = r.json()["settings"]
        assert "sso_secrets" not in shown and shown["sso_configured"] is True
        assert SECRET not in r.text and SECRET[-4:] not in r.text
        assert shown["guests"] is True and shown["quiet_hours"] is None

        quiet = {
            "timezone": "UTC",
            "windows": [{"days": ["sun"], "start": "01:00", "end": "02:00"}],
        }
        change = {
            "thresholds": {"profanity": 0.9},
            "banned_words": ["Spamword"],
            "reports_before_review": 5,
            "quiet_hours": quiet,
        }
        r = await http.patch(URL, json=change, headers=bearer(ada.token))
        assert r.status_code == 200, r.text
        now = r.json()["settings"]
        assert now["thresholds"] == {"profanity": 0.9}
        assert now["banned_words"] == ["spamword"]  # as `site set` stores it
        assert now["reports_before_review"] == 5 and now["quiet_hours"] == quiet
        # The change applies at once on this node.
        r = await post(http, "buy spamword now")
        assert r.status_code == 422 and r.json()["error"]["code"] == "banned_word", r.text

        audit = await http.get("/api/v1/moderation/sites/news/audit", headers=bearer(ada.token))
        entry = audit.json()["entries"][0]
        assert (entry["moderator"], entry["action"], entry["target"]) == (
            "ada",
            "settings",
            "site:news",
        )
        assert entry["detail"]["reports_before_review"] == {"old": 3, "new": 5}
        assert entry["detail"]["banned_words"] == {"old": [], "new": ["spamword"]}
        assert entry["detail"]["quiet_hours"] == {"old": None, "new": quiet}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"reply_depth": 99}, "reply_depth is 1 to 10"),
        ({"default_order": "best"}, "default_order is one of newest, oldest, top"),
        ({"default_order": 1}, "takes a string"),
        ({"origins": ["not an origin"]}, "not an origin"),
        ({"thresholds": {"nonsense": 0.5}}, "unknown label"),
        ({"thresholds": {"profanity": 1.5}}, "at most 1"),
        ({"sso_secrets": ["x" * 40]}, "command line"),
        ({"nope": 1}, "unknown setting"),
        ({"guests": "yes"}, "true or false"),
        ({"reports_before_review": -1}, "0 or more"),
        ({"quiet_hours": {"timezone": "Nowhere/Land", "windows": []}}, "time zone"),
        ({}, "at least one"),
        # All or nothing: the good key is not applied either.
        ({"guests": False, "reply_depth": 0}, "reply_depth"),
    ],
)
async def test_bad_settings_are_422_and_change_nothing(
    server: RunningServer, body: dict[str, Any], says: str
) -> None:
    async with server.client() as http:
        token = await server.node.review.add_moderator("news", "ada", role="admin")
        before = (await http.get(URL, headers=bearer(token))).json()
        r = await http.patch(URL, json=body, headers=bearer(token))
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "invalid_setting"
        assert says in r.json()["error"]["message"]
        assert (await http.get(URL, headers=bearer(token))).json() == before


async def test_new_authors_premoderated_from_the_settings_page(server: RunningServer) -> None:
    async with server.client() as http:
        token = await server.node.review.add_moderator("news", "ada", role="admin")
        r = await post(http, "a first clean comment")
        assert r.status_code == 201, r.text
        r = await http.patch(URL, json={"premoderate_new_authors": True}, headers=bearer(token))
        assert r.status_code == 200 and r.json()["settings"]["premoderate_new_authors"] is True
        r = await post(http, "another clean comment")  # a new guest: held
        assert r.status_code == 202, r.text
        (item,) = await Moderator(http, token).queue()
        assert item["reasons"] == ["new author: pre-moderated"]
