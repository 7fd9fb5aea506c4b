"""Per-site settings: how operators write them (comments/sites.py), and the site cache."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from comments.moderation.policy import Action, ArticleState, AuthorState, SitePolicy, decide
from comments.scoring.classifier.profanity import ProfanityCheckClassifier
from comments.scoring.classifier.testing import TINY_LABELS
from comments.sites import (
    DEFAULTS,
    THRESHOLD_LABELS,
    THRESHOLD_OFF,
    Site,
    SiteCache,
    SiteSettingError,
    merged,
    normalize_origin,
    parse_value,
    redacted,
)
from comments.store import Store

ORIGINS = {
    "plain": ("https://partner.example", "https://partner.example"),
    "trailing-slash-and-case": ("HTTPS://Partner.Example/", "https://partner.example"),
    "surrounding-spaces": ("  https://partner.example  ", "https://partner.example"),
    "custom-port": ("http://localhost:3000", "http://localhost:3000"),
    "default-https-port": ("https://partner.example:443", "https://partner.example"),
    "default-http-port": ("http://partner.example:80/", "http://partner.example"),
    "https-on-port-80": ("https://partner.example:80", "https://partner.example:80"),
    "ipv4": ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    "ipv6": ("http://[::1]:8080", "http://[::1]:8080"),
    "ipv6-default-port": ("https://[2001:DB8::1]:443", "https://[2001:db8::1]"),
    "unicode-host": ("https://Bücher.example", "https://xn--bcher-kva.example"),
}


@pytest.mark.parametrize(("raw", "expected"), list(ORIGINS.values()), ids=ORIGINS)
def test_normalize_origin(raw: str, expected: str) -> None:
    assert normalize_origin(raw) == expected
    assert normalize_origin(expected) == expected  # idempotent


NOT_ORIGINS = {
    "no-scheme": "partner.example",
    "ftp": "ftp://partner.example",
    "javascript": "javascript:alert(1)",
    "path": "https://partner.example/comments",
    "query": "https://partner.example/?a=1",
    "fragment": "https://partner.example/#top",
    "userinfo": "https://user:pw@partner.example",
    "port-not-a-number": "https://partner.example:http",
    "port-out-of-range": "https://partner.example:99999",
    "empty": "",
    "wildcard-host": "https://*",
    "scheme-only": "https://",
    "space-in-host": "https://part ner.example",
    "empty-label": "https://partner..example",
}


@pytest.mark.parametrize("raw", list(NOT_ORIGINS.values()), ids=NOT_ORIGINS)
def test_normalize_origin_refuses_what_is_not_an_origin(raw: str) -> None:
    with pytest.raises(SiteSettingError):
        normalize_origin(raw)


VALUES: dict[str, tuple[str, str, Any]] = {
    "bool-true": ("guests", "true", True),
    "bool-yes": ("premoderated", "YES", True),
    "bool-on": ("live_insert", "on", True),
    "bool-1": ("guests", "1", True),
    "bool-false": ("guests", "false", False),
    "bool-off": ("premoderated", "Off", False),
    "bool-0": ("live_insert", "0", False),
    "choice": ("default_order", "oldest", "oldest"),
    "choice-case-spaces": ("default_order", " Top ", "top"),
    "int": ("posts_per_minute_per_author", "5", 5),
    "int-zero-means-no-limit": ("posts_per_minute_per_ip", "0", 0),
    "int-spaces": ("reports_before_review", " 7 ", 7),
    "list-commas": ("banned_words", "Spam, Eggs ,, ham", ["spam", "eggs", "ham"]),
    "list-json": ("suspect_words", '["Buy now", " cheap "]', ["buy now", "cheap"]),
    "list-empty": ("banned_words", "", []),
    "origins-normalized-sorted-unique": (
        "origins",
        "https://B.example/, http://a.example:80, https://b.example:443",
        ["http://a.example", "https://b.example"],
    ),
    "sso-two-secrets": (
        "sso_secrets",
        "0123456789abcdef0123456789abcdef-new,0123456789abcdef0123456789abcdef-old",
        ["0123456789abcdef0123456789abcdef-new", "0123456789abcdef0123456789abcdef-old"],
    ),
    "sso-json-secret-with-comma": (
        "sso_secrets",
        '["0123456789,abcdef0123456789abcdef"]',
        ["0123456789,abcdef0123456789abcdef"],
    ),
    "thresholds-pairs": ("thresholds", "toxicity=0.7,threat=0.5", {"toxicity": 0.7, "threat": 0.5}),
    "thresholds-spaces": (
        "thresholds",
        " insult = 1 , obscene=.25 ",
        {"insult": 1, "obscene": 0.25},
    ),
    "thresholds-json": ("thresholds", '{"toxicity": 0.9}', {"toxicity": 0.9}),
    "thresholds-one": ("thresholds", "threat=1", {"threat": 1.0}),
    "thresholds-off": (
        "thresholds",
        "profanity=off, toxicity=OFF, insult=0.5",
        {"profanity": THRESHOLD_OFF, "toxicity": THRESHOLD_OFF, "insult": 0.5},
    ),
    "thresholds-json-off": ("thresholds", '{"threat": "off"}', {"threat": THRESHOLD_OFF}),
    "thresholds-empty-clears": ("thresholds", "", {}),
}


@pytest.mark.parametrize(("key", "raw", "expected"), list(VALUES.values()), ids=VALUES)
def test_parse_value(key: str, raw: str, expected: Any) -> None:
    value = parse_value(key, raw)
    assert value == expected
    assert type(value) is type(expected) or isinstance(expected, float)


BAD_VALUES: dict[str, tuple[str, str, str]] = {
    "unknown-key": ("colour", "blue", "unknown setting"),
    "bool-maybe": ("guests", "maybe", "true or false"),
    "bool-empty": ("premoderated", "", "true or false"),
    "int-word": ("posts_per_minute_per_author", "ten", "whole number"),
    "int-fraction": ("posts_per_minute_per_ip", "1.5", "whole number"),
    "int-negative": ("reports_before_review", "-1", "0 or more"),
    "int-underscores": ("posts_per_minute_per_ip", "1_000", "whole number"),
    "int-huge": ("posts_per_minute_per_ip", "9" * 30, "whole number"),
    "int-non-ascii-digits": ("posts_per_minute_per_ip", "١٢", "whole number"),
    "list-bad-json": ("banned_words", '["a", ', "JSON"),
    "list-json-not-strings": ("banned_words", "[1, 2]", "strings"),
    "origins-bad": ("origins", "https://ok.example, ftp://bad.example", "not an origin"),
    "origins-path": ("origins", "https://ok.example/path", "no path"),
    "sso-short": ("sso_secrets", "short", "32 characters"),
    "sso-three": ("sso_secrets", ",".join(f"secret-number-{n}-xxxxxx" for n in range(3)), "two"),
    "thresholds-no-equals": ("thresholds", "toxicity", "label=value"),
    "thresholds-not-a-number": ("thresholds", "toxicity=high", "must be a number"),
    "thresholds-zero": ("thresholds", "toxicity=0", "above 0"),
    "thresholds-above-1": ("thresholds", "toxicity=2", "at most 1"),
    "thresholds-just-above-1": ("thresholds", "threat=1.01", "at most 1"),
    "thresholds-json-above-1": ("thresholds", '{"toxicity": 2}', "at most 1"),
    "thresholds-unknown-label": ("thresholds", "toxcity=0.5", "unknown label 'toxcity'"),
    "thresholds-json-unknown-label": ("thresholds", '{"Toxicity": 0.5}', "unknown label"),
    "thresholds-repeated": ("thresholds", "threat=0.5,threat=0.9", "given twice"),
    "thresholds-json-repeated": ("thresholds", '{"threat": 0.5, "threat": 1}', "given twice"),
    "thresholds-off-misspelt": ("thresholds", "threat=of", "must be a number or off"),
    "thresholds-negative": ("thresholds", "toxicity=-0.5", "above 0"),
    "thresholds-nan": ("thresholds", "toxicity=nan", "above 0"),
    "thresholds-infinite": ("thresholds", '{"toxicity": Infinity}', "above 0"),
    "thresholds-bool": ("thresholds", '{"toxicity": true}', "must be a number"),
    "thresholds-no-label": ("thresholds", "=0.5", "needs a label"),
    "thresholds-bad-json": ("thresholds", '{"toxicity": ', "JSON"),
}


@pytest.mark.parametrize(("key", "raw", "message"), list(BAD_VALUES.values()), ids=BAD_VALUES)
def test_parse_value_refuses_bad_values(key: str, raw: str, message: str) -> None:
    with pytest.raises(SiteSettingError, match=message):
        parse_value(key, raw)


def test_an_unknown_label_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(SiteSettingError) as refused:
        parse_value("thresholds", "toxcity=0.5")
    for label in ("toxicity", "severe_toxicity", "identity_attack", "profanity"):
        assert label in str(refused.value)


def test_threshold_labels_cover_every_classifier() -> None:
    """The labels Detoxify (as loaded from its checkpoints) and the bundled model report."""
    assert set(ProfanityCheckClassifier.labels) <= set(THRESHOLD_LABELS)
    assert set(TINY_LABELS) <= set(THRESHOLD_LABELS)  # the "original" model's six
    assert "sexual_explicit" in THRESHOLD_LABELS  # the "unbiased" and multilingual ones'
    assert len(set(THRESHOLD_LABELS)) == len(THRESHOLD_LABELS)


def test_off_turns_a_label_off_in_the_policy() -> None:
    thresholds = parse_value("thresholds", "toxicity=off,threat=0.5")
    site = SitePolicy(thresholds=thresholds)
    calm = {label: 0.0 for label in THRESHOLD_LABELS}
    published = decide(site, ArticleState(), AuthorState(), "hi", {**calm, "toxicity": 1.0})
    assert published.action is Action.PUBLISH
    held = decide(site, ArticleState(), AuthorState(), "hi", {**calm, "threat": 0.5})
    assert held.action is Action.HOLD and held.reasons == ("threat 0.50 \u2265 0.50",)
    # Other labels keep their defaults.
    held = decide(site, ArticleState(), AuthorState(), "hi", {**calm, "insult": 0.9})
    assert held.action is Action.HOLD


def test_thresholds_stored_before_the_checks_still_load_and_show() -> None:
    """Sites written before labels and the (0, 1] range were checked keep working: a
    threshold above 1 was the way to turn a label off, and is shown as off."""
    stored = {"thresholds": {"toxicity": 1.5, "custom_label": 0.3, "threat": 0.6}}
    site = Site("news", merged(stored))
    policy = SitePolicy(thresholds=site.settings["thresholds"])
    scores = {"toxicity": 1.0, "custom_label": 0.2, "threat": 0.1}
    assert decide(policy, ArticleState(), AuthorState(), "hi", scores).action is Action.PUBLISH
    shown = redacted(site.settings)["thresholds"]
    assert shown == {"toxicity": "off", "custom_label": 0.3, "threat": 0.6}
    assert redacted(merged({"thresholds": {"threat": THRESHOLD_OFF}}))["thresholds"] == {
        "threat": "off"
    }


def test_every_key_has_a_parser() -> None:
    """Whatever ``site set`` accepts for a key, the same key's default round-trips."""
    typed = {
        "origins": "https://a.example",
        "guests": "true",
        "sso_secrets": "0123456789abcdef0123456789abcdef",
        "thresholds": "toxicity=0.5",
        "banned_words": "x",
        "suspect_words": "y",
        "suspect_phrases": "i know where you live, hope you die",
        "premoderated": "false",
        "reports_before_review": "3",
        "posts_per_minute_per_author": "10",
        "posts_per_minute_per_ip": "120",
        "likes_per_minute_per_reader": "60",
        "likes_per_minute_per_ip": "600",
        "live_insert": "true",
        "edit_window_s": "300",
        "reply_depth": "3",
        "quiet_hours": "null",
        "premoderate_new_authors": "true",
        "hold_links_from_new_authors": "false",
        "default_order": "top",
    }
    assert set(typed) == set(DEFAULTS)
    for key, raw in typed.items():
        assert type(parse_value(key, raw)) is type(DEFAULTS[key]), key


def test_merged_keeps_defaults_for_missing_keys() -> None:
    stored = {"guests": True, "posts_per_minute_per_ip": 0, "future_key": "kept"}
    settings = merged(stored)
    assert settings["guests"] is True and settings["posts_per_minute_per_ip"] == 0
    assert settings["future_key"] == "kept"
    for key in set(DEFAULTS) - set(stored):
        assert settings[key] == DEFAULTS[key]
    assert settings["posts_per_minute_per_author"] == 10
    assert DEFAULTS["guests"] is False  # merging did not touch the defaults
    assert merged({}) == DEFAULTS


def test_redacted_shows_only_the_end_of_secrets() -> None:
    secrets = ["0123456789abcdef-NEW1", "0123456789abcdef-OLD2"]
    settings = merged({"sso_secrets": secrets, "guests": True})
    shown = redacted(settings)
    assert shown["sso_secrets"] == ["…NEW1", "…OLD2"]
    assert not any(s in repr(shown) for s in secrets)
    assert shown["guests"] is True
    assert settings["sso_secrets"] == secrets  # the original is untouched


def test_site_properties() -> None:
    site = Site("news", merged({"origins": ["https://a.example"], "sso_secrets": ["s" * 16]}))
    assert site.origins == ["https://a.example"]
    assert site.guests is False
    assert site.sso_secrets == ["s" * 16]


async def test_site_cache_honours_its_ttl(store: Store) -> None:
    await store.create_site("news", {"guests": False})
    fresh = SiteCache(store, ttl_s=0)
    cached = SiteCache(store, ttl_s=3600)
    for cache in (fresh, cached):
        site = await cache.get("news")
        assert site is not None and site.guests is False
        assert site.settings["posts_per_minute_per_author"] == 10  # defaults merged
        assert await cache.get("unknown") is None

    await store.save_site("news", {"guests": True})
    await store.create_site("unknown", {})

    # ttl 0: every read sees the store as it is now.
    site = await fresh.get("news")
    assert site is not None and site.guests is True
    assert await fresh.get("unknown") is not None

    # A long ttl keeps serving what it read, the absence of a site too...
    site = await cached.get("news")
    assert site is not None and site.guests is False
    assert await cached.get("unknown") is None
    # ...until the entry is dropped.
    cached.forget("news")
    cached.forget("unknown")
    site = await cached.get("news")
    assert site is not None and site.guests is True
    assert await cached.get("unknown") is not None


async def test_site_cache_reads_once_for_requests_that_miss_together(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under a flood, every request in flight misses when the entry expires: they share
    # one read of the site rather than each taking a database connection for it.
    await store.create_site("news", {"guests": True})
    reads: list[str] = []
    real_get_site = store.get_site

    async def counted(slug: str) -> dict[str, Any] | None:
        reads.append(slug)
        return await real_get_site(slug)

    monkeypatch.setattr(store, "get_site", counted)
    cache = SiteCache(store, ttl_s=0)  # every call is a miss
    sites = await asyncio.gather(*(cache.get("news") for _ in range(50)))
    assert reads == ["news"]
    assert all(site is not None and site.guests is True for site in sites)


def test_default_order_is_one_of_the_thread_orders() -> None:
    assert DEFAULTS["default_order"] == "newest"
    for bad in ("", "best", "new", "oldest,top"):
        with pytest.raises(SiteSettingError, match="default_order is one of newest, oldest, top"):
            parse_value("default_order", bad)


def test_edit_window_and_reply_depth() -> None:
    assert parse_value("edit_window_s", "0") == 0  # editing off
    assert parse_value("edit_window_s", "900") == 900
    assert parse_value("reply_depth", "1") == 1
    for bad in ("0", "11", "-1", "two"):
        with pytest.raises(SiteSettingError):
            parse_value("reply_depth", bad)
