"""Table tests for the pure moderation policy (comments/moderation/policy.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypedDict

import pytest

from comments.moderation.policy import (
    CLASSIFIER_UNAVAILABLE,
    LINK_FROM_NEW_AUTHOR,
    PREMODERATED,
    Action,
    ArticleState,
    AuthorState,
    Decision,
    SitePolicy,
    check_access,
    classifier_unavailable_only,
    decide,
    default_threshold,
    default_thresholds,
    find_words,
    has_link,
    queue_key,
    risk,
    threshold_for,
)

GE = "\u2265"


def fullwidth(text: str) -> str:
    """The full-width look-alike of ASCII text (U+FF01..U+FF5E)."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


CLEAN = {"toxicity": 0.01, "insult": 0.02}
OPEN = ArticleState()
CLOSED = ArticleState(closed=True)
NEW = AuthorState()
KNOWN = AuthorState(has_approved_comment=True)
BANNED = AuthorState(banned=True, has_approved_comment=True)
SITE = SitePolicy(
    thresholds={"toxicity": 0.80, "insult": 0.80, "threat": 0.60},
    banned_words=("ass", "kill yourself"),
    suspect_words=("crypto", "free money"),
)


class Case(TypedDict, total=False):
    body: str
    scores: Mapping[str, float] | None
    site: SitePolicy
    article: ArticleState
    author: AuthorState


def run(
    body: str = "A thoughtful comment.",
    scores: Mapping[str, float] | None = CLEAN,
    *,
    site: SitePolicy = SITE,
    article: ArticleState = OPEN,
    author: AuthorState = KNOWN,
) -> Decision:
    return decide(site, article, author, body, scores)


# --- access ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("article", "author", "expected"),
    [
        pytest.param(OPEN, NEW, None, id="open-new-author"),
        pytest.param(OPEN, KNOWN, None, id="open-known-author"),
        pytest.param(ArticleState(premoderated=True), NEW, None, id="premoderated-not-access"),
        pytest.param(OPEN, BANNED, ("banned", 403), id="banned"),
        pytest.param(CLOSED, KNOWN, ("closed", 403), id="closed"),
        pytest.param(CLOSED, BANNED, ("banned", 403), id="banned-wins-over-closed"),
    ],
)
def test_check_access(
    article: ArticleState, author: AuthorState, expected: tuple[str, int] | None
) -> None:
    decision = check_access(article, author)
    if expected is None:
        assert decision is None
    else:
        assert decision is not None
        assert decision.action is Action.REJECT
        assert (decision.error_code, decision.http_status) == expected
        assert decision.reasons


# --- precedence --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "code", "status"),
    [
        pytest.param(
            {"author": BANNED, "article": CLOSED, "body": "ass", "scores": None},
            "banned",
            403,
            id="banned-author-beats-everything",
        ),
        pytest.param(
            {"article": CLOSED, "body": "ass", "scores": {"toxicity": 0.99}},
            "closed",
            403,
            id="closed-beats-banned-word",
        ),
        pytest.param(
            {"body": "ass crypto www.x.com", "scores": None, "author": NEW},
            "banned_word",
            422,
            id="banned-word-beats-hold-reasons",
        ),
        pytest.param(
            {"body": "ass", "site": SitePolicy(banned_words=("ass",), premoderated=True)},
            "banned_word",
            422,
            id="banned-word-beats-premoderation",
        ),
    ],
)
def test_rejection_precedence(kwargs: Case, code: str, status: int) -> None:
    decision = run(**kwargs)
    assert decision.action is Action.REJECT
    assert decision.error_code == code
    assert decision.http_status == status


def test_decide_uses_check_access() -> None:
    # decide must give the same answer the caller got from check_access up front.
    for article, author in [(OPEN, BANNED), (CLOSED, KNOWN)]:
        assert run(article=article, author=author) == check_access(article, author)


# --- banned and suspect words ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words", "expected"),
    [
        pytest.param("what an ass", ("ass",), ("ass",), id="plain"),
        pytest.param("What an ASS", ("ass",), ("ass",), id="body-upper"),
        pytest.param("what an ass", ("ASS",), ("ASS",), id="word-upper-reported-as-configured"),
        pytest.param("(ass)", ("ass",), ("ass",), id="parentheses"),
        pytest.param("ass, really", ("ass",), ("ass",), id="comma"),
        pytest.param("...ass!!!", ("ass",), ("ass",), id="punctuation-both-sides"),
        pytest.param("bad-ass", ("ass",), ("ass",), id="hyphen-is-punctuation"),
        pytest.param('"ass"', ("ass",), ("ass",), id="quotes"),
        pytest.param("ass", ("ass",), ("ass",), id="whole-body"),
        pytest.param("first class", ("ass",), (), id="class-no-match"),
        pytest.param("assess the assets", ("ass",), (), id="prefix-no-match"),
        pytest.param("badass", ("ass",), (), id="suffix-no-match"),
        # Underscores separate words since normalisation (f_u_c_k is fuck).
        pytest.param("bad_ass", ("ass",), ("ass",), id="underscore-separates-words"),
        pytest.param("ass2", ("ass",), (), id="digit-is-a-word-character"),
        pytest.param("Go KILL yourself", ("kill yourself",), ("kill yourself",), id="phrase"),
        pytest.param(
            "kill \n  yourself.", ("kill yourself",), ("kill yourself",), id="phrase-whitespace"
        ),
        pytest.param("skill yourself", ("kill yourself",), (), id="phrase-word-boundary"),
        pytest.param("killyourself", ("kill yourself",), (), id="phrase-needs-space"),
        pytest.param("kill, yourself", ("kill yourself",), (), id="phrase-not-across-comma"),
        pytest.param("kill them", ("kill yourself",), (), id="phrase-partial"),
        pytest.param("f*ck!", ("f*ck!",), ("f*ck!",), id="word-with-punctuation-edges"),
        pytest.param("f*cking", ("f*ck",), (), id="punctuated-word-still-whole"),
        pytest.param("a.s.s", ("a.s.s",), ("a.s.s",), id="regex-metacharacters-literal"),
        pytest.param("axsxs", ("a.s.s",), (), id="dot-is-not-a-wildcard"),
        pytest.param("STRASSE", ("straße",), ("straße",), id="unicode-casefold"),
        pytest.param(fullwidth("ass"), ("ass",), ("ass",), id="fullwidth-nfkc"),
        pytest.param("ass and ASS", ("ass", "Ass"), ("ass",), id="duplicates-once"),
        pytest.param("anything", ("", "   "), (), id="blank-entries-ignored"),
        pytest.param("b then a", ("a", "b"), ("a", "b"), id="configured-order"),
    ],
)
def test_find_words(body: str, words: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert find_words(body, words) == expected


@pytest.mark.parametrize(
    ("body", "banned", "reasons"),
    [
        pytest.param("you ASS.", ("ass",), ("banned word: ass",), id="one"),
        pytest.param(
            "ass, kill yourself",
            ("kill yourself", "ass"),
            ("banned word: kill yourself", "banned word: ass"),
            id="all-found-in-configured-order",
        ),
    ],
)
def test_banned_word_rejects(body: str, banned: tuple[str, ...], reasons: tuple[str, ...]) -> None:
    decision = run(body, site=SitePolicy(banned_words=banned))
    assert decision == Decision(Action.REJECT, reasons, "banned_word", 422)


def test_banned_word_not_matching_publishes() -> None:
    assert run("a first-class assessment", site=SitePolicy(banned_words=("ass",))) == Decision(
        Action.PUBLISH
    )


@pytest.mark.parametrize(
    ("body", "reasons"),
    [
        pytest.param("buy CRYPTO now", ("suspect word: crypto",), id="case-insensitive"),
        pytest.param("cryptography is fun", (), id="whole-word-only"),
        pytest.param("Free   money!", ("suspect word: free money",), id="phrase"),
        pytest.param(
            "free money for crypto",
            ("suspect word: crypto", "suspect word: free money"),
            id="several-in-configured-order",
        ),
    ],
)
def test_suspect_words_hold(body: str, reasons: tuple[str, ...]) -> None:
    decision = run(body)
    expected = Decision(Action.HOLD, reasons) if reasons else Decision(Action.PUBLISH)
    assert decision == expected


# --- scores and thresholds ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "action", "reasons"),
    [
        pytest.param({"toxicity": 0.80}, Action.HOLD, (f"toxicity 0.80 {GE} 0.80",), id="at"),
        pytest.param({"toxicity": 0.7999}, Action.PUBLISH, (), id="just-below"),
        pytest.param({"toxicity": 0.795}, Action.PUBLISH, (), id="below-would-round-up"),
        pytest.param({"toxicity": 0.93}, Action.HOLD, (f"toxicity 0.93 {GE} 0.80",), id="over"),
        pytest.param({"toxicity": 1.0}, Action.HOLD, (f"toxicity 1.00 {GE} 0.80",), id="max"),
        pytest.param({"toxicity": 0.0}, Action.PUBLISH, (), id="zero"),
        pytest.param({"threat": 0.60}, Action.HOLD, (f"threat 0.60 {GE} 0.60",), id="threat-at"),
        pytest.param({"threat": 0.59}, Action.PUBLISH, (), id="threat-below"),
        pytest.param(
            {"severe_toxicity": 0.5},
            Action.HOLD,
            (f"severe_toxicity 0.50 {GE} 0.50",),
            id="unconfigured-label-uses-its-default",
        ),
        pytest.param(
            {"made_up": 0.81},
            Action.HOLD,
            (f"made_up 0.81 {GE} 0.80",),
            id="unknown-label-uses-fallback",
        ),
        pytest.param(
            {"insult": 0.9, "toxicity": 0.85, "threat": 0.1},
            Action.HOLD,
            (f"insult 0.90 {GE} 0.80", f"toxicity 0.85 {GE} 0.80"),
            id="several-labels-in-classifier-order",
        ),
        pytest.param(
            {"toxicity": 0.8049}, Action.HOLD, (f"toxicity 0.80 {GE} 0.80",), id="rounds-down"
        ),
        pytest.param(
            {"toxicity": 0.806}, Action.HOLD, (f"toxicity 0.81 {GE} 0.80",), id="rounds-up"
        ),
    ],
)
def test_score_thresholds(
    scores: dict[str, float], action: Action, reasons: tuple[str, ...]
) -> None:
    assert run(scores=scores) == Decision(action, reasons)


@pytest.mark.parametrize(
    ("threshold", "score", "reason"),
    [
        pytest.param(0.805, 0.8049, None, id="below-3-decimal-threshold"),
        pytest.param(0.805, 0.806, f"toxicity 0.81 {GE} 0.81", id="at-3-decimal-threshold"),
        pytest.param(0.795, 0.795, f"toxicity 0.80 {GE} 0.80", id="both-round-up"),
        pytest.param(0.5, 0.504, f"toxicity 0.50 {GE} 0.50", id="equal-after-rounding"),
    ],
)
def test_reason_uses_raw_values(threshold: float, score: float, reason: str | None) -> None:
    site = SitePolicy(thresholds={"toxicity": threshold})
    decision = run(scores={"toxicity": score}, site=site)
    assert decision.reasons == ((reason,) if reason else ())


def test_printed_score_never_below_printed_threshold() -> None:
    # Sweep a grid around a boundary: the decision follows the raw comparison, and any
    # printed reason never shows a score below its threshold.
    steps = [0.79 + i * 0.0005 for i in range(41)]
    for threshold in steps:
        site = SitePolicy(thresholds={"toxicity": threshold})
        for score in steps:
            decision = run(scores={"toxicity": score}, site=site)
            assert (decision.action is Action.HOLD) == (score >= threshold)
            if decision.reasons:
                _, shown_score, ge, shown_threshold = decision.reasons[0].split(" ")
                assert ge == GE
                assert float(shown_score) >= float(shown_threshold)
                assert shown_score == f"{score:.2f}"


def test_reason_format() -> None:
    (reason,) = run(scores={"toxicity": 0.93}).reasons
    assert reason == "toxicity 0.93 \u2265 0.80"
    assert "\u2265" in reason and ">=" not in reason


def test_threshold_above_one_turns_a_label_off() -> None:
    site = SitePolicy(thresholds={"toxicity": 1.01})
    assert run(scores={"toxicity": 1.0}, site=site).action is Action.PUBLISH


# --- classifier unavailable --------------------------------------------------------------


@pytest.mark.parametrize(
    "scores",
    [
        pytest.param(None, id="none"),
        pytest.param({}, id="empty"),
        pytest.param({"toxicity": math.nan}, id="nan"),
        pytest.param({"toxicity": 0.1, "insult": math.inf}, id="inf"),
    ],
)
def test_unusable_scores_hold(scores: Mapping[str, float] | None) -> None:
    decision = run(scores=scores)
    assert decision == Decision(Action.HOLD, (CLASSIFIER_UNAVAILABLE,))
    assert classifier_unavailable_only(decision)
    assert risk(scores, SITE.thresholds) is None


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        pytest.param(Decision(Action.HOLD, (CLASSIFIER_UNAVAILABLE,)), True, id="only"),
        pytest.param(
            Decision(Action.HOLD, (CLASSIFIER_UNAVAILABLE, PREMODERATED)), False, id="and-more"
        ),
        pytest.param(
            Decision(Action.HOLD, (CLASSIFIER_UNAVAILABLE, "suspect word: x")),
            False,
            id="and-suspect-word",
        ),
        pytest.param(Decision(Action.HOLD, (PREMODERATED,)), False, id="other-reason"),
        pytest.param(Decision(Action.PUBLISH), False, id="published"),
        pytest.param(
            Decision(Action.REJECT, ("banned word: x",), "banned_word", 422), False, id="rejected"
        ),
    ],
)
def test_classifier_unavailable_only(decision: Decision, expected: bool) -> None:
    assert classifier_unavailable_only(decision) is expected


# --- links -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("see https://example.org/a?b", True, id="https"),
        pytest.param("see http://10.0.0.1:8080", True, id="http-ip"),
        pytest.param("HTTPS://EXAMPLE.ORG", True, id="scheme-upper"),
        pytest.param("https://user@example.com/x", True, id="url-with-userinfo"),
        pytest.param("go to www.example.org", True, id="www"),
        pytest.param("WWW.Example.org", True, id="www-upper"),
        pytest.param("example.com/path", True, id="bare-domain-path"),
        pytest.param("visit example.com.", True, id="bare-domain-sentence-end"),
        pytest.param("Example.COM", True, id="bare-domain-upper"),
        pytest.param("shop.example.co.uk", True, id="subdomains"),
        pytest.param("my-shop.xyz", True, id="hyphenated"),
        pytest.param("example.travel/deal", True, id="unlisted-tld-with-path"),
        pytest.param("see...example.com", True, id="after-ellipsis"),
        pytest.param(fullwidth("example.com"), True, id="fullwidth"),
        pytest.param("a plain sentence", False, id="no-link"),
        pytest.param("write to me@example.com", False, id="email"),
        pytest.param("me@mail.example.co.uk", False, id="email-subdomain"),
        pytest.param("pi is 3.14", False, id="number"),
        pytest.param("e.g. this, i.e. that", False, id="abbreviations"),
        pytest.param("the end.Next time", False, id="glued-sentence"),
        pytest.param("run main.py", False, id="unlisted-tld-no-path"),
        pytest.param("example.community", False, id="tld-prefix-of-word"),
        pytest.param("the http:// prefix", False, id="scheme-without-host"),
        pytest.param("www. alone", False, id="www-without-host"),
        pytest.param("and/or", False, id="slash-without-domain"),
    ],
)
def test_has_link(body: str, expected: bool) -> None:
    assert has_link(body) is expected


@pytest.mark.parametrize(
    ("author", "body", "reasons"),
    [
        pytest.param(NEW, "see example.com", (LINK_FROM_NEW_AUTHOR,), id="new-author-link"),
        pytest.param(KNOWN, "see example.com", (), id="approved-author-link"),
        pytest.param(NEW, "no link here", (), id="new-author-no-link"),
        pytest.param(NEW, "mail me@example.com", (), id="new-author-email"),
    ],
)
def test_link_from_new_author(author: AuthorState, body: str, reasons: tuple[str, ...]) -> None:
    decision = run(body, author=author)
    assert decision.reasons == reasons
    assert decision.action is (Action.HOLD if reasons else Action.PUBLISH)


# --- pre-moderation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("site_pre", "article_pre", "held"),
    [
        pytest.param(False, False, False, id="neither"),
        pytest.param(True, False, True, id="site"),
        pytest.param(False, True, True, id="article"),
        pytest.param(True, True, True, id="both-one-reason"),
    ],
)
def test_premoderation(site_pre: bool, article_pre: bool, held: bool) -> None:
    decision = run(
        site=SitePolicy(premoderated=site_pre), article=ArticleState(premoderated=article_pre)
    )
    expected = Decision(Action.HOLD, (PREMODERATED,)) if held else Decision(Action.PUBLISH)
    assert decision == expected


# --- combinations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "reasons"),
    [
        pytest.param(
            {
                "body": "free money: https://x.io crypto",
                "scores": None,
                "author": NEW,
                "article": ArticleState(premoderated=True),
            },
            (
                CLASSIFIER_UNAVAILABLE,
                "suspect word: crypto",
                "suspect word: free money",
                LINK_FROM_NEW_AUTHOR,
                PREMODERATED,
            ),
            id="unavailable-words-link-premoderated",
        ),
        pytest.param(
            {
                "body": "crypto at example.com",
                "scores": {"threat": 0.7, "toxicity": 0.95},
                "author": NEW,
                "site": SitePolicy(
                    thresholds=SITE.thresholds, suspect_words=("crypto",), premoderated=True
                ),
            },
            (
                f"threat 0.70 {GE} 0.60",
                f"toxicity 0.95 {GE} 0.80",
                "suspect word: crypto",
                LINK_FROM_NEW_AUTHOR,
                PREMODERATED,
            ),
            id="scores-words-link-premoderated",
        ),
        pytest.param(
            {"body": "crypto", "scores": {"toxicity": 0.9}},
            (f"toxicity 0.90 {GE} 0.80", "suspect word: crypto"),
            id="score-then-word",
        ),
    ],
)
def test_hold_reasons_accumulate_in_order(kwargs: Case, reasons: tuple[str, ...]) -> None:
    decision = run(**kwargs)
    assert decision == Decision(Action.HOLD, reasons)
    assert not classifier_unavailable_only(decision)


def test_clean_comment_publishes_with_no_reasons() -> None:
    decision = run("Nice piece, thanks.", author=NEW)
    assert decision == Decision(Action.PUBLISH)
    assert decision.reasons == ()
    assert decision.error_code is None and decision.http_status is None


# --- risk and queue order ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        pytest.param(None, None, id="none"),
        pytest.param({}, None, id="empty"),
        pytest.param({"toxicity": 0.4}, 0.5, id="one-label"),
        pytest.param({"toxicity": 0.4, "threat": 0.45}, 0.75, id="largest-ratio-not-score"),
        pytest.param({"toxicity": 0.8}, 1.0, id="at-threshold-is-one"),
        pytest.param({"severe_toxicity": 0.25}, 0.5, id="unconfigured-label-default"),
        pytest.param({"toxicity": 0.0}, 0.0, id="zero"),
    ],
)
def test_risk(scores: Mapping[str, float] | None, expected: float | None) -> None:
    value = risk(scores, SITE.thresholds)
    if expected is None:
        assert value is None
    else:
        assert value == pytest.approx(expected)


def test_queue_order_unscored_first_then_riskiest() -> None:
    items = {
        "mild": {"toxicity": 0.2},
        "unscored": None,
        "threat": {"threat": 0.57},  # 0.95 of its threshold
        "toxic": {"toxicity": 0.72},  # 0.90: higher score, lower risk than "threat"
        "also-unscored": {},
        "extreme": {"insult": 0.99},
    }
    order = sorted(items, key=lambda name: queue_key(risk(items[name], SITE.thresholds)))
    assert order == ["unscored", "also-unscored", "extreme", "threat", "toxic", "mild"]


# --- defaults and validation -------------------------------------------------------------


def test_default_thresholds_detoxify_and_profanity() -> None:
    labels = [
        "toxicity",
        "severe_toxicity",
        "obscene",
        "threat",
        "insult",
        "identity_attack",
        "sexual_explicit",
        "profanity",
        "something_new",
    ]
    assert default_thresholds(labels) == {
        "toxicity": 0.80,
        "severe_toxicity": 0.50,
        "obscene": 0.80,
        "threat": 0.60,
        "insult": 0.80,
        "identity_attack": 0.60,
        "sexual_explicit": 0.80,
        "profanity": 0.50,
        "something_new": 0.80,
    }
    assert list(default_thresholds(reversed(labels))) == list(reversed(labels))
    assert default_thresholds([]) == {}


@pytest.mark.parametrize(
    ("label", "thresholds", "expected"),
    [
        pytest.param("toxicity", {"toxicity": 0.7}, 0.7, id="configured"),
        pytest.param("threat", {"toxicity": 0.7}, 0.6, id="default"),
        pytest.param("profanity", {}, 0.5, id="profanity-default"),
        pytest.param("other", {}, 0.8, id="fallback"),
    ],
)
def test_threshold_for(label: str, thresholds: dict[str, float], expected: float) -> None:
    assert threshold_for(label, thresholds) == expected
    assert default_threshold("threat") == 0.6


def test_empty_site_thresholds_mean_defaults() -> None:
    site = SitePolicy()
    assert run(scores={"threat": 0.6}, site=site).reasons == (f"threat 0.60 {GE} 0.60",)
    assert run(scores={"profanity": 0.49}, site=site).action is Action.PUBLISH
    assert run(scores={"profanity": 0.5}, site=site).action is Action.HOLD


@pytest.mark.parametrize("bad", [0.0, -0.1, math.nan, math.inf], ids=["zero", "neg", "nan", "inf"])
def test_invalid_thresholds_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="toxicity"):
        SitePolicy(thresholds={"toxicity": bad})
    with pytest.raises(ValueError, match="toxicity"):
        risk({"toxicity": 0.5}, {"toxicity": bad})


def test_site_policy_is_a_snapshot() -> None:
    thresholds = {"toxicity": 0.8}
    site = SitePolicy(thresholds=thresholds)
    thresholds["toxicity"] = 0.1
    assert site.thresholds["toxicity"] == 0.8
    with pytest.raises(TypeError):
        site.thresholds["toxicity"] = 0.1  # type: ignore[index]


@pytest.mark.parametrize(
    ("action", "reasons", "code", "status"),
    [
        pytest.param(Action.PUBLISH, ("x",), None, None, id="publish-with-reason"),
        pytest.param(Action.HOLD, (), None, None, id="hold-without-reason"),
        pytest.param(Action.HOLD, ("x",), "banned", 403, id="hold-with-code"),
        pytest.param(Action.REJECT, ("x",), None, None, id="reject-without-code"),
        pytest.param(Action.REJECT, ("x",), "banned", None, id="reject-without-status"),
    ],
)
def test_inconsistent_decision_refused(
    action: Action, reasons: tuple[str, ...], code: str | None, status: int | None
) -> None:
    with pytest.raises(ValueError):
        Decision(action, reasons, code, status)
