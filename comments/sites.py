"""Per-site settings: their defaults, how operators write them, and a short-lived cache."""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from comments.moderation import quiet_hours
from comments.moderation.policy import (
    DEFAULT_SUSPECT_PHRASES,
    DETOXIFY_THRESHOLDS,
    PROFANITY_THRESHOLDS,
)
from comments.store import Store

DEFAULTS: dict[str, Any] = {
    "origins": [],
    "guests": False,
    "sso_secrets": [],
    "thresholds": {},
    "banned_words": [],
    "suspect_words": [],
    # Threats and self-harm incitement held for review while the classifier has no
    # "threat" label (the bundled model); `[]` turns them off.
    "suspect_phrases": list(DEFAULT_SUSPECT_PHRASES),
    "premoderated": False,
    # Hold every comment of an author with no approved comment yet.
    "premoderate_new_authors": False,
    # Hold comments with a link from an author with no approved comment yet.
    "hold_links_from_new_authors": True,
    "reports_before_review": 3,
    "posts_per_minute_per_author": 10,
    "posts_per_minute_per_ip": 120,
    # Likes (and unlikes) have budgets of their own, apart from posts'.
    "likes_per_minute_per_reader": 60,
    "likes_per_minute_per_ip": 600,
    # Widget: insert new comments at once even while the reader is scrolled in the thread.
    "live_insert": False,
    # How long after posting its author may edit a comment, in seconds; 0: no editing.
    "edit_window_s": 300,
    # How deep the widget nests replies; deeper ones sit at that level, "@name" first.
    "reply_depth": 3,
    # The order the widget shows a thread in until the reader picks another.
    "default_order": "newest",
    # Weekly windows when new comments are refused (comments.moderation.quiet_hours).
    "quiet_hours": None,
}
LIST_KEYS = {"origins", "sso_secrets", "banned_words", "suspect_words", "suspect_phrases"}
BOOL_KEYS = {
    "guests",
    "premoderated",
    "live_insert",
    "premoderate_new_authors",
    "hold_links_from_new_authors",
}
INT_KEYS = {
    "reports_before_review",
    "posts_per_minute_per_author",
    "posts_per_minute_per_ip",
    "likes_per_minute_per_reader",
    "likes_per_minute_per_ip",
    "edit_window_s",
    "reply_depth",
}
#: Keys that take one of a few words.
CHOICE_KEYS: dict[str, tuple[str, ...]] = {"default_order": ("newest", "oldest", "top")}
SECRET_KEYS = {"sso_secrets"}
REPLY_DEPTH_MAX = 10  # deeper nesting leaves no width for text on a phone
MAX_SSO_SECRETS = 2  # the current one and, during a rotation, the previous one
#: The labels a site may set a threshold for: Detoxify's (every model's) and the bundled
#: profanity model's, taken from the policy's table of their defaults.
THRESHOLD_LABELS: tuple[str, ...] = tuple({**DETOXIFY_THRESHOLDS, **PROFANITY_THRESHOLDS})
#: What ``label=off`` stores: a threshold above 1, which no score (0..1) reaches, so the
#: policy never holds a comment for that label (see ``policy.SitePolicy``). A number
#: rather than a word, so that every node reads it, a node of an older release too.
THRESHOLD_OFF = 2.0


class SiteSettingError(ValueError):
    pass


DEFAULT_PORTS = {"http": 80, "https": 443}
HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")


def normalize_origin(value: str) -> str:
    """An origin as browsers send it in ``Origin``: ``https://Example.com:443/`` →
    ``https://example.com``, ``http://[::1]:8080``, ``https://bücher.example`` →
    ``https://xn--bcher-kva.example``. Anything that is not an origin is refused.

    Raises:
        SiteSettingError: not ``scheme://host[:port]`` with scheme http or https.
    """
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError as exc:  # e.g. a port that is not a number or out of range
        raise SiteSettingError(f"not an origin (scheme://host[:port]): {value!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise SiteSettingError(f"not an origin (scheme://host[:port]): {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SiteSettingError(f"an origin has no path, query or fragment: {value!r}")
    if parts.username is not None or parts.password is not None:
        raise SiteSettingError(f"an origin has no user or password: {value!r}")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6, bracketed as in URLs and Origin headers
    else:
        try:
            host = host.encode("idna").decode("ascii") if not host.isascii() else host
        except UnicodeError:
            host = ""
        if not HOST_NAME.fullmatch(host):
            raise SiteSettingError(f"not a valid host name: {value!r}")
    shown_port = "" if port is None or port == DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{shown_port}"


def _parse_bool(key: str, raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SiteSettingError(f"{key} takes true or false, got {raw!r}")


def _parse_list(raw: str) -> list[str]:
    raw = raw.strip()
    if raw.startswith("["):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SiteSettingError(f"not a JSON list: {exc}") from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SiteSettingError("a list of strings is expected")
        return [v.strip() for v in value if v.strip()]
    return [v.strip() for v in raw.split(",") if v.strip()]


def _parse_thresholds(raw: str) -> dict[str, float]:
    raw = raw.strip()
    pairs: dict[str, Any]
    if raw.startswith("{"):
        try:
            pairs = json.loads(raw, object_pairs_hook=_no_repeats)
        except json.JSONDecodeError as exc:
            raise SiteSettingError(f"not a JSON object: {exc}") from None
    else:
        pairs = {}
        for item in filter(None, (p.strip() for p in raw.split(","))):
            label, sep, value = item.partition("=")
            if not sep:
                raise SiteSettingError(f"thresholds are label=value pairs, got {item!r}")
            if label.strip() in pairs:
                raise SiteSettingError(f"threshold of {label.strip()} is given twice")
            pairs[label.strip()] = value.strip()
    if not isinstance(pairs, dict):
        raise SiteSettingError("thresholds are label=value pairs or a JSON object")
    out: dict[str, float] = {}
    for label, value in pairs.items():
        out[_threshold_label(label)] = _threshold_value(label.strip(), value)
    return out


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``'s object hook: a label given twice is refused, not the last kept."""
    out: dict[str, Any] = {}
    for label, value in pairs:
        if label in out:
            raise SiteSettingError(f"threshold of {label} is given twice")
        out[label] = value
    return out


def _threshold_label(label: str) -> str:
    label = label.strip()
    if not label:
        raise SiteSettingError("a threshold needs a label, as in toxicity=0.8")
    if label not in THRESHOLD_LABELS:
        raise SiteSettingError(
            f"unknown label {label!r} in thresholds; labels: {', '.join(THRESHOLD_LABELS)}"
        )
    return label


def _threshold_value(label: str, value: Any) -> float:
    if isinstance(value, str) and value.strip().lower() == "off":
        return THRESHOLD_OFF
    try:
        if isinstance(value, bool):
            raise TypeError(value)
        number = float(value)
    except (TypeError, ValueError):
        raise SiteSettingError(
            f"threshold of {label} must be a number or off, got {value!r}"
        ) from None
    # Zero or less would hold everything, NaN nothing; above 1 is what `off` is for.
    if not (math.isfinite(number) and 0 < number <= 1):
        raise SiteSettingError(
            f"threshold of {label} must be above 0 and at most 1 (or off, to ignore the "
            f"label), got {value}"
        )
    return number


def parse_value(key: str, raw: str) -> Any:
    """Turn what an operator typed for ``key`` into the stored value."""
    if key not in DEFAULTS:
        raise SiteSettingError(f"unknown setting {key!r}; known: {', '.join(sorted(DEFAULTS))}")
    if key in BOOL_KEYS:
        return _parse_bool(key, raw)
    if key in INT_KEYS:
        if re.fullmatch(r"\s*-[0-9]+\s*", raw):
            raise SiteSettingError(f"{key} must be 0 or more (0 means no limit)")
        if not re.fullmatch(r"\s*[0-9]{1,9}\s*", raw):
            raise SiteSettingError(f"{key} takes a whole number, got {raw!r}")
        if key == "reply_depth" and not 1 <= int(raw) <= REPLY_DEPTH_MAX:
            raise SiteSettingError(f"reply_depth is 1 to {REPLY_DEPTH_MAX} levels")
        return int(raw)
    if key == "thresholds":
        return _parse_thresholds(raw)
    if key == "quiet_hours":
        return _parse_quiet_hours(raw)
    if key in CHOICE_KEYS:
        choice = raw.strip().lower()
        if choice not in CHOICE_KEYS[key]:
            raise SiteSettingError(f"{key} is one of {', '.join(CHOICE_KEYS[key])}, got {raw!r}")
        return choice
    values = _parse_list(raw)
    if key == "origins":
        return sorted({normalize_origin(v) for v in values})
    if key == "sso_secrets":
        if len(values) > MAX_SSO_SECRETS:
            raise SiteSettingError("at most two SSO secrets: the new one and the old one")
        # HS256 wants a key at least as long as its hash (RFC 7518 §3.2): 32 bytes.
        if any(len(v.encode()) < 32 for v in values):
            raise SiteSettingError("an SSO secret must be at least 32 characters")
    if key in ("banned_words", "suspect_words", "suspect_phrases"):
        # An entry with nothing a word can match (",,", "!!!") would never hold anything:
        # the operator meant something else.
        for value in values:
            if not any(ch.isalnum() for ch in value):
                raise SiteSettingError(f"{key}: {value!r} has no letter or digit to match")
        return [v.lower() for v in values]
    return values


def _parse_quiet_hours(raw: str) -> dict[str, Any] | None:
    if raw.strip() in ("", "null", "off", "none"):
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SiteSettingError(f"quiet_hours is a JSON object or null: {exc}") from None
    try:
        return quiet_hours.check(value)
    except ValueError as exc:
        raise SiteSettingError(str(exc)) from None


def merged(stored: dict[str, Any]) -> dict[str, Any]:
    """Stored settings over the defaults (a setting added later has its default)."""
    return {**DEFAULTS, **stored}


def redacted(settings: dict[str, Any]) -> dict[str, Any]:
    """For display: secrets shown by their last four characters only, and a threshold
    above 1 (what ``off`` stores, or an older way to write it) as ``off``."""
    out = dict(settings)
    for key in SECRET_KEYS:
        out[key] = [f"…{s[-4:]}" for s in out.get(key, [])]
    thresholds = out.get("thresholds")
    if isinstance(thresholds, dict):
        out["thresholds"] = {
            label: "off" if _is_number(value) and value > 1 else value
            for label, value in thresholds.items()
        }
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Site:
    slug: str
    settings: dict[str, Any]

    @property
    def origins(self) -> list[str]:
        return list(self.settings["origins"])

    @property
    def guests(self) -> bool:
        return bool(self.settings["guests"])

    @property
    def sso_secrets(self) -> list[str]:
        return list(self.settings["sso_secrets"])

    @cached_property
    def mark(self) -> str:
        """The settings as one string, in cached reads' keys (names shown and hygiene
        change answers without an event): made once per Site, and the SiteCache loads
        a new Site when the settings may have changed."""
        return json.dumps(self.settings, sort_keys=True, default=str)


class SiteCache:
    """Sites read on every request, cached for a few seconds so that ``comments site
    set`` (another process) takes effect without a restart."""

    def __init__(self, store: Store, ttl_s: float) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Site | None]] = {}
        self._loading: dict[str, asyncio.Task[Site | None]] = {}

    def peek(self, slug: str) -> Site | None:
        """The site when its cached copy is fresh, else None (then ``get``)."""
        hit = self._cache.get(slug)
        if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
            return hit[1]
        return None

    async def get(self, slug: str) -> Site | None:
        hit = self._cache.get(slug)
        if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
            return hit[1]
        # One read per slug at a time: under a flood, every request in flight misses
        # together when the entry expires, and each would take a database connection
        # for the same row (a stampede on the pool, every ttl_s).
        loading = self._loading.get(slug)
        if loading is None:
            loading = asyncio.ensure_future(self._load(slug))
            self._loading[slug] = loading
            loading.add_done_callback(lambda task: self._loaded(slug, task))
        # Shielded: a caller that gives up does not cancel the others' read.
        return await asyncio.shield(loading)

    async def _load(self, slug: str) -> Site | None:
        now = time.monotonic()
        stored = await self.store.get_site(slug)
        site = None if stored is None else Site(slug=slug, settings=merged(stored))
        if self._loading.get(slug) is asyncio.current_task():  # not forgotten meanwhile
            if len(self._cache) > 10_000:  # unknown slugs must not grow this forever
                self._cache.clear()
            self._cache[slug] = (now, site)
        return site

    def _loaded(self, slug: str, task: asyncio.Task[Site | None]) -> None:
        if self._loading.get(slug) is task:
            del self._loading[slug]
        if not task.cancelled():
            task.exception()  # its callers got it; no "never retrieved" noise

    def forget(self, slug: str) -> None:
        self._cache.pop(slug, None)
        # A read already under way may predate the change: later callers read anew.
        self._loading.pop(slug, None)
