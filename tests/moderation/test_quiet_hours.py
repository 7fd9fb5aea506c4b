"""Quiet hours (docs/api.md, "Quiet hours"): weekly windows in a site's time zone, across
midnight and daylight-saving changes; new comments get 403 ``closed`` with ``reopens_at``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from comments.moderation.quiet_hours import check, reopens_at
from comments.settings import Settings
from comments.sites import SiteSettingError, parse_value
from tests.conftest import RunningServer, add_site
from tests.moderation import CLEAN, mod_settings, post

BERLIN = ZoneInfo("Europe/Berlin")
WEEKEND_NIGHTS = {
    "timezone": "Europe/Berlin",
    "windows": [{"days": ["sat", "sun"], "start": "22:00", "end": "06:00"}],
}


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 2026-12-05 is a Saturday (CET, UTC+1).
        (berlin(2026, 12, 5, 21, 59), None),
        (berlin(2026, 12, 5, 22, 0), berlin(2026, 12, 6, 6, 0)),
        (berlin(2026, 12, 5, 23, 30), berlin(2026, 12, 6, 6, 0)),
        (berlin(2026, 12, 6, 3, 0), berlin(2026, 12, 6, 6, 0)),  # after midnight
        (berlin(2026, 12, 6, 6, 0), None),  # the end is open
        (berlin(2026, 12, 6, 12, 0), None),
        (berlin(2026, 12, 7, 2, 0), berlin(2026, 12, 7, 6, 0)),  # Sunday's night, on Monday
        (berlin(2026, 12, 4, 23, 0), None),  # Friday night is not quiet
        (berlin(2026, 12, 7, 23, 0), None),  # nor Monday night
        # Spring forward on Sunday 2026-03-29 02:00 → 03:00: 06:00 is CEST (UTC+2).
        (berlin(2026, 3, 28, 23, 0), datetime(2026, 3, 29, 4, 0, tzinfo=UTC)),
        # Fall back on Sunday 2026-10-25 03:00 → 02:00: 06:00 is CET (UTC+1).
        (berlin(2026, 10, 24, 23, 0), datetime(2026, 10, 25, 5, 0, tzinfo=UTC)),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), datetime(2026, 10, 25, 5, 0, tzinfo=UTC)),
    ],
)
def test_weekend_nights_in_berlin(now: datetime, expected: datetime | None) -> None:
    assert reopens_at(WEEKEND_NIGHTS, now) == expected


def test_windows_that_touch_reopen_at_the_end_of_the_last() -> None:
    schedule = check(
        {
            "timezone": "America/New_York",
            "windows": [
                {"days": ["mon"], "start": "00:00", "end": "24:00"},
                {"days": ["tue"], "start": "00:00", "end": "08:00"},
                {"days": ["tue"], "start": "07:00", "end": "09:30"},
            ],
        }
    )
    ny = ZoneInfo("America/New_York")
    # 2026-12-07 is a Monday.
    found = reopens_at(schedule, datetime(2026, 12, 7, 12, 0, tzinfo=ny))
    assert found == datetime(2026, 12, 8, 9, 30, tzinfo=ny)
    assert reopens_at(schedule, datetime(2026, 12, 8, 9, 30, tzinfo=ny)) is None
    assert reopens_at(None, datetime.now(UTC)) is None
    assert reopens_at({"timezone": "UTC", "windows": []}, datetime.now(UTC)) is None


def test_a_window_in_the_spring_gap_closes_nothing_that_does_not_exist() -> None:
    schedule = {
        "timezone": "Europe/Berlin",
        "windows": [{"days": ["sun"], "start": "02:00", "end": "03:00"}],
    }
    # 02:00-03:00 does not exist on 2026-03-29; just before and after it is open.
    assert reopens_at(schedule, datetime(2026, 3, 29, 0, 59, tzinfo=UTC)) is None
    assert reopens_at(schedule, datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) is None


W = '{"timezone": "UTC", "windows": [%s]}'


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ('{"windows": []}', "timezone"),
        ('{"timezone": "Mars/Olympus", "windows": []}', "unknown time zone"),
        (W % '{"days": ["sunday"], "start": "1:00", "end": "2:00"}', "days"),
        (W % '{"days": ["sun"], "start": "25:00", "end": "02:00"}', "HH:MM"),
        (W % '{"days": ["sun"], "start": "02:00", "end": "02:00"}', "differ"),
        ('{"timezone": "UTC", "windows": [{"days": ["sun"], "start": "02:00"}]}', "window"),
        ('{"timezone": "UTC", "windows": [], "extra": 1}', "quiet_hours"),
        ("[1]", "quiet_hours"),
        ("{", "JSON"),
    ],
)  # fmt: skip
def test_site_set_refuses_bad_schedules(raw: str, says: str) -> None:
    with pytest.raises(SiteSettingError, match=says):
        parse_value("quiet_hours", raw)


def test_site_set_stores_a_normalised_schedule() -> None:
    raw = json.dumps(
        {
            "timezone": "UTC",
            "windows": [{"days": ["sun", "mon", "sun"], "start": "22:00", "end": "06:00"}],
        }
    )
    assert parse_value("quiet_hours", raw) == {
        "timezone": "UTC",
        "windows": [{"days": ["mon", "sun"], "start": "22:00", "end": "06:00"}],
    }
    assert parse_value("quiet_hours", "null") is None


ALWAYS = {
    "timezone": "Europe/Berlin",
    "windows": [
        {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start": "00:00",
            "end": "24:00",
        }
    ],
}


@pytest.fixture
async def server(database_url: str, channel_prefix: str, start_server: Any) -> RunningServer:
    await add_site(database_url, quiet_hours=ALWAYS)
    await add_site(database_url, "open")
    settings: Settings = mod_settings(database_url, "memory://", channel_prefix)
    running: RunningServer = await start_server(settings)
    return running


async def test_posting_in_quiet_hours_is_403_closed_with_reopens_at(server: RunningServer) -> None:
    async with server.client() as http:
        r = await post(http, CLEAN)
        assert r.status_code == 403, r.text
        body = r.json()
        assert body["error"]["code"] == "closed"
        assert "reopens" in body["error"]["message"]
        reopens = datetime.fromisoformat(body["reopens_at"].replace("Z", "+00:00"))
        assert reopens > datetime.now(UTC)
        # Another site without quiet hours takes comments.
        assert (await post(http, CLEAN, site="open")).status_code == 201
