"""Quiet hours: weekly windows, in a site's time zone, when new comments are refused
(pure; docs/api.md, "Quiet hours").

A schedule is ``{"timezone": "Europe/Berlin", "windows": [{"days": ["sat", "sun"],
"start": "22:00", "end": "06:00"}]}``: each window opens on each of its days at
``start`` local time and closes at ``end``, the next day when ``end`` is not after
``start`` (a window crossing midnight); ``"24:00"`` is the end of the day. Local times
are read with the zone's rules of that date (zoneinfo), so a window keeps its wall-clock
times across daylight-saving changes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WINDOWS_MAX = 50
CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])|24:00")


def check(value: Any) -> dict[str, Any] | None:
    """A schedule as stored (days in week order, deduplicated), or None for none.

    Raises:
        ValueError: with a sentence saying what is wrong.
    """
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"timezone", "windows"}:
        raise ValueError('quiet_hours is {"timezone": …, "windows": [...]} or null')
    zone = value.get("timezone")
    if not isinstance(zone, str) or not zone:
        raise ValueError("quiet_hours needs a timezone, such as Europe/Berlin")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None
    windows = value.get("windows")
    if not isinstance(windows, list) or len(windows) > WINDOWS_MAX:
        raise ValueError(f"quiet_hours windows are a list of at most {WINDOWS_MAX}")
    return {"timezone": zone, "windows": [_window(w) for w in windows]}


def _window(window: Any) -> dict[str, Any]:
    if not isinstance(window, dict) or set(window) != {"days", "start", "end"}:
        raise ValueError(
            'a quiet-hours window is {"days": [...], "start": "HH:MM", "end": "HH:MM"}'
        )
    days = window["days"]
    if not isinstance(days, list) or not days or not all(d in DAYS for d in days):
        raise ValueError(f"a window's days are a non-empty list of {', '.join(DAYS)}")
    for key in ("start", "end"):
        if not isinstance(window[key], str) or not CLOCK.fullmatch(window[key]):
            raise ValueError(f"a window's {key} is a time HH:MM (00:00 to 24:00)")
    if window["start"] == "24:00":
        raise ValueError("a window starts at 23:59 at the latest")
    if window["start"] == window["end"]:
        raise ValueError("a window's start and end differ (00:00 to 24:00 is a whole day)")
    return {"days": [d for d in DAYS if d in days], "start": window["start"], "end": window["end"]}


def _clock(value: str) -> tuple[int, time]:
    """(days to add, time of day) of ``HH:MM``; ``24:00`` is the next day's midnight."""
    if value == "24:00":
        return 1, time(0, 0)
    hours, minutes = value.split(":")
    return 0, time(int(hours), int(minutes))


def _spans(schedule: dict[str, Any], around: date) -> list[tuple[datetime, datetime]]:
    """Each window's (opens, closes) in UTC, for windows opening from the day before
    ``around`` to a week after it."""
    zone = ZoneInfo(schedule["timezone"])
    spans = []
    for offset in range(-1, 8):
        day = around + timedelta(days=offset)
        for window in schedule["windows"]:
            if DAYS[day.weekday()] not in window["days"]:
                continue
            _, start = _clock(window["start"])
            extra, end = _clock(window["end"])
            end_day = day + timedelta(days=extra) if extra or end > start else day + timedelta(1)
            opens = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
            closes = datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)
            if closes > opens:  # a window inside a DST gap can come out empty
                spans.append((opens, closes))
    return sorted(spans)


def reopens_at(schedule: dict[str, Any] | None, now: datetime) -> datetime | None:
    """When commenting reopens (UTC) if ``now`` is inside quiet hours, else None.
    Windows that overlap or touch count as one; a schedule closed all week long reopens
    at the end of the last window known (a week ahead), and is asked again then."""
    if not schedule or not schedule.get("windows"):
        return None
    now = now.astimezone(UTC)
    local_day = now.astimezone(ZoneInfo(schedule["timezone"])).date()
    until: datetime | None = None
    for opens, closes in _spans(schedule, local_day):
        if until is None:
            if opens <= now < closes:
                until = closes
        elif opens <= until:
            until = max(until, closes)
    return until


def message(schedule: dict[str, Any], reopens: datetime) -> str:
    """What a reader is told: when commenting reopens, in the site's time zone."""
    local = reopens.astimezone(ZoneInfo(schedule["timezone"]))
    return (
        f"comments are paused for quiet hours; commenting reopens "
        f"{local:%A %H:%M} ({schedule['timezone']})"
    )
