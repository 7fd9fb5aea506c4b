"""Site settings changed by a site's admins (docs/api.md, "Site settings"): validated
exactly as ``comments site set`` validates them (``comments.sites.parse_value``), each
change an audit entry with the old and new values. SSO secrets stay on the command line:
they are neither shown nor changed here."""

from __future__ import annotations

import json
from typing import Any

from comments.moderation.ranking import stored_risk
from comments.sites import (
    BOOL_KEYS,
    DEFAULTS,
    INT_KEYS,
    LIST_KEYS,
    SECRET_KEYS,
    SiteSettingError,
    merged,
    parse_value,
    redacted,
)
from comments.store import Store
from comments.store.queue import rerank
from comments.store.review import ReviewStore

#: What the settings page may change: everything but secrets.
EDITABLE = tuple(k for k in DEFAULTS if k not in SECRET_KEYS)


def shown(stored: dict[str, Any]) -> dict[str, Any]:
    """The settings as admins see them: defaults filled in, no secrets at all (only
    whether sign-in is configured)."""
    out = redacted(merged(stored))
    out = {k: v for k, v in out.items() if k in EDITABLE}
    out["sso_configured"] = bool(stored.get("sso_secrets"))
    return out


def typed_to_raw(key: str, value: Any) -> str:
    """A JSON value as ``site set`` takes it typed, so that one parser validates both.

    Raises:
        SiteSettingError: an unknown key, a secret, or a value of the wrong JSON type.
    """
    if key not in DEFAULTS:
        raise SiteSettingError(f"unknown setting {key!r}; known: {', '.join(EDITABLE)}")
    if key in SECRET_KEYS:
        raise SiteSettingError(f"{key} is set on the command line only")
    if key in BOOL_KEYS:
        if not isinstance(value, bool):
            raise SiteSettingError(f"{key} takes true or false")
        return "true" if value else "false"
    if key in INT_KEYS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SiteSettingError(f"{key} takes a whole number")
        return str(value)
    if key in LIST_KEYS:
        if not isinstance(value, list):
            raise SiteSettingError(f"{key} takes a list of strings")
        return json.dumps(value)
    if key == "thresholds":
        if not isinstance(value, dict):
            raise SiteSettingError("thresholds take an object of label: number or 'off'")
        return json.dumps(value)
    if key == "quiet_hours":
        return json.dumps(value)
    if not isinstance(value, str):
        raise SiteSettingError(f"{key} takes a string")
    return value


async def change(
    store: Store, review: ReviewStore, slug: str, actor: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Apply ``changes`` (all or none) and audit each changed key; the settings as shown.

    Raises:
        SiteSettingError: the first bad key or value, with what is wrong.
        KeyError: no such site.
    """
    if not changes:
        raise SiteSettingError("send at least one setting to change")
    stored = await store.get_site(slug)
    if stored is None:
        raise KeyError(slug)
    parsed = {key: parse_value(key, typed_to_raw(key, value)) for key, value in changes.items()}
    before = merged(stored)
    updated = {**stored, **parsed}
    await store.save_site(slug, updated)
    diff = {
        key: {"old": before.get(key), "new": value}
        for key, value in parsed.items()
        if before.get(key) != value
    }
    if diff:
        await review.audit(slug, actor, "settings", f"site:{slug}", diff)
    if "thresholds" in diff:  # the queue's order (stored risk) follows them
        thresholds = merged(updated)["thresholds"]
        await rerank(store, slug, lambda scores: stored_risk(scores, thresholds))
    return shown(updated)
