"""Moderation policy: site rules + article + author + scores → publish, hold or reject.

Pure: no I/O and no imports from the rest of the package but ``normalise`` (pure too), so
every rule is table-tested without a database, a broker or a model. The caller gathers
the inputs, calls ``check_access`` before it spends time scoring, then ``decide`` with the scores.

``decide`` runs an ordered list of small phases (``_PHASES``), Coral Talk style. A phase
either returns a final ``Decision`` (a rejection, which stops the run) or a tuple of hold
reasons, which accumulate in phase order. No hold reason means publish.

Precedence:

1. banned author → reject ``banned`` (403); closed article → reject ``closed`` (403);
2. a banned word or phrase in the body → reject ``banned_word`` (422);
3. hold reasons, all that apply, in this order: ``classifier unavailable``; one
   ``"<label> <score> ≥ <threshold>"`` per label at or over its threshold, in the
   classifier's label order; ``suspect word: <word>`` per suspect word, in the site's
   order; ``suspect phrase: <phrase>`` per suspect phrase (threats, self-harm incitement)
   when the classifier has no ``threat`` label; ``link from a new author``;
   ``pre-moderated``.

Word lists match whole words of the normalised text (see ``normalise``): ``c.a.s.i.n.o``
is ``casino`` and the reason says so (``banned word: casino (as "c.a.s.i.n.o")``), while
``Scunthorpe`` or ``classic`` contain nothing.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TypeAlias

from comments.moderation import normalise as norm

# Reason phrases other modules may compare against (docs/api.md fixes their wording).
CLASSIFIER_UNAVAILABLE = "classifier unavailable"
LINK_FROM_NEW_AUTHOR = "link from a new author"
PREMODERATED = "pre-moderated"
NEW_AUTHOR = "new author: pre-moderated"
GE = "\u2265"  # "≥", written as an escape so no editor or linter mangles it

# Detoxify's labels (all its models) and alt-profanity-check's single label.
DETOXIFY_THRESHOLDS: Mapping[str, float] = MappingProxyType(
    {
        "toxicity": 0.80,
        "severe_toxicity": 0.50,
        "obscene": 0.80,
        "threat": 0.60,
        "insult": 0.80,
        "identity_attack": 0.60,
        "sexual_explicit": 0.80,
    }
)
PROFANITY_THRESHOLDS: Mapping[str, float] = MappingProxyType({"profanity": 0.50})
FALLBACK_THRESHOLD = 0.80
_DEFAULT_THRESHOLDS = {**DETOXIFY_THRESHOLDS, **PROFANITY_THRESHOLDS}

#: A site's ``suspect_phrases`` unless its operator changes them: threats and incitement
#: to self-harm that carry no profanity, which the bundled model cannot see. They hold a
#: comment for review, never reject it (context decides: "I know where you live" can be a
#: neighbour's joke).
DEFAULT_SUSPECT_PHRASES: tuple[str, ...] = (
    "kill yourself",
    "kill urself",
    "kys",
    "go die",
    "hope you die",
    "hope u die",
    "you should die",
    "you deserve to die",
    "drink bleach",
    "hang yourself",
    "slit your wrists",
    "end your life",
    "nobody would miss you",
    "i will find you",
    "i'll find you",
    "i know where you live",
    "we know where you live",
    "i will kill you",
    "i'll kill you",
    "i will hurt you",
    "i'll hurt you",
    "hurt your family",
    "watch your back",
    "you will pay for this",
    "you're dead",
    "you are dead",
    "i will come for you",
    "coming for you",
    "i will make you suffer",
)


class Action(StrEnum):
    PUBLISH = "publish"
    HOLD = "hold"
    REJECT = "reject"


@dataclass(frozen=True, kw_only=True)
class SitePolicy:
    """A site's moderation settings.

    ``thresholds`` maps a label to the score at or above which a comment is held. A label
    missing from it uses ``default_threshold`` (so an empty mapping means "the defaults",
    and a label a new classifier adds is never left unchecked). A threshold above 1 turns
    a label off, as no score reaches it.
    """

    thresholds: Mapping[str, float] = field(default_factory=dict)
    banned_words: tuple[str, ...] = ()
    suspect_words: tuple[str, ...] = ()
    # Held for review (never rejected) while the classifier has no "threat" label.
    suspect_phrases: tuple[str, ...] = ()
    premoderated: bool = False
    # Hold every comment of an author with no approved comment yet.
    premoderate_new_authors: bool = False
    # Hold a link from an author with no approved comment yet (on by default).
    hold_links_from_new_authors: bool = True

    def __post_init__(self) -> None:
        for label, value in self.thresholds.items():
            _check_threshold(label, value)
        # Copy and freeze: a caller mutating its dict afterwards must not change a policy
        # that is already in use.
        object.__setattr__(self, "thresholds", MappingProxyType(dict(self.thresholds)))
        object.__setattr__(self, "banned_words", tuple(self.banned_words))
        object.__setattr__(self, "suspect_words", tuple(self.suspect_words))
        object.__setattr__(self, "suspect_phrases", tuple(self.suspect_phrases))

    @property
    def lexicon(self) -> norm.Lexicon:
        """What obfuscated spellings are decoded into: profanity and this site's words."""
        return site_lexicon(self.banned_words, self.suspect_words)


@dataclass(frozen=True, kw_only=True)
class ArticleState:
    closed: bool = False
    premoderated: bool = False


@dataclass(frozen=True, kw_only=True)
class AuthorState:
    """``banned`` is already resolved against the ban's ``until`` by the caller."""

    banned: bool = False
    # At least one earlier comment published or approved. Defaults to False so that an
    # unknown author is treated as new (links held), never as trusted.
    has_approved_comment: bool = False


@dataclass(frozen=True)
class Decision:
    """What to do with a comment and why.

    ``error_code`` and ``http_status`` are set exactly when ``action`` is ``REJECT``.
    """

    action: Action
    reasons: tuple[str, ...] = ()
    error_code: str | None = None
    http_status: int | None = None

    def __post_init__(self) -> None:
        rejected = self.action is Action.REJECT
        if rejected != (self.error_code is not None) or rejected != (self.http_status is not None):
            raise ValueError("error_code and http_status go with REJECT, and only with it")
        if (self.action is Action.PUBLISH) == bool(self.reasons):
            raise ValueError("a held or rejected comment has reasons, a published one none")


def default_threshold(label: str) -> float:
    """The threshold a label gets when the site sets none."""
    return _DEFAULT_THRESHOLDS.get(label, FALLBACK_THRESHOLD)


def default_thresholds(labels: Iterable[str]) -> dict[str, float]:
    """Default thresholds for the given classifier labels, in their order.

    Detoxify: toxicity 0.80, severe_toxicity 0.50, obscene 0.80, threat 0.60, insult 0.80,
    identity_attack 0.60, sexual_explicit 0.80; profanity-check's ``profanity`` 0.50; any
    other label 0.80.
    """
    return {label: default_threshold(label) for label in labels}


def threshold_for(label: str, thresholds: Mapping[str, float]) -> float:
    """The site's threshold for ``label``, or its default when the site sets none.

    Raises:
        ValueError: the configured threshold is not a positive finite number.
    """
    value = thresholds.get(label)
    if value is None:
        return default_threshold(label)
    _check_threshold(label, value)
    return value


def risk(scores: Mapping[str, float] | None, thresholds: Mapping[str, float]) -> float | None:
    """The largest, over labels, of score ÷ that label's threshold.

    1.0 or more means at least one label reached its threshold. ``None`` when there are no
    usable scores (classifier unavailable, empty, or a NaN/infinite score): such comments
    lead the moderator queue, see ``queue_key``.
    """
    usable = _usable_scores(scores)
    if usable is None:
        return None
    return max(score / threshold_for(label, thresholds) for label, score in usable.items())


def queue_key(risk_value: float | None) -> tuple[int, float]:
    """Sort key for the moderator queue: unscored first, then riskiest first.

    ``sorted(items, key=lambda item: queue_key(item.risk))``; ``sorted`` is stable, so
    callers keep e.g. oldest-first among equal risks by sorting by age beforehand.
    """
    if risk_value is None:
        return (0, 0.0)
    return (1, -risk_value)


def check_access(article: ArticleState, author: AuthorState) -> Decision | None:
    """Reject a banned author (403 ``banned``) or a closed article (403 ``closed``).

    Needs no scores, so the caller runs it first and spares the classifier. ``None``
    means the comment may go on to ``decide``. A ban wins over a closed article: it is
    the more specific answer for that author.
    """
    if author.banned:
        return Decision(Action.REJECT, ("author is banned",), "banned", 403)
    if article.closed:
        return Decision(Action.REJECT, ("article is closed",), "closed", 403)
    return None


def decide(
    site: SitePolicy,
    article: ArticleState,
    author: AuthorState,
    body: str,
    scores: Mapping[str, float] | None,
) -> Decision:
    """Publish, hold or reject a new comment, with the reasons.

    Args:
        site: the site's moderation settings.
        article: the article's state.
        author: the author's state, ban already resolved.
        body: the comment text as it will be stored.
        scores: label → score in 0..1 from the classifier; ``None`` when the classifier
            was unavailable, failed or timed out (the comment is then held: moderation
            fails closed).

    Returns:
        A ``REJECT`` decision from the first rejecting phase, else ``HOLD`` with every
        hold reason in phase order, else ``PUBLISH`` with no reasons.
    """
    submission = _Submission(
        site, article, author, body, norm.normalise(body, site.lexicon), scores
    )
    reasons: list[str] = []
    for phase in _PHASES:
        outcome = phase(submission)
        if isinstance(outcome, Decision):
            return outcome
        reasons.extend(outcome)
    if reasons:
        return Decision(Action.HOLD, tuple(reasons))
    return Decision(Action.PUBLISH)


def classifier_unavailable_only(decision: Decision) -> bool:
    """True when the comment is held only because it could not be scored.

    Such comments are scored again when the classifier is back, and published if clean.
    """
    return decision.action is Action.HOLD and decision.reasons == (CLASSIFIER_UNAVAILABLE,)


def find_words(body: str, words: Iterable[str]) -> tuple[str, ...]:
    """The configured ``words`` that occur in ``body``, in the order of ``words``.

    See :func:`find_matches`; the words are returned as configured.
    """
    return tuple(match.entry for match in find_matches(body, words))


def find_matches(
    body: str, words: Iterable[str], *, also_known: Iterable[str] = ()
) -> list[norm.Match]:
    """The configured ``words`` found in ``body`` (in their order), with what matched.

    Whole words of the normalised text (``normalise``: NFKC, case folding, look-alike
    letters, leetspeak, spelled-out letters…), so "ass" matches "ass", "ASS!", "(ass)",
    "a.s.s" and "@$$" but not "class", "assess" or "ass2". A phrase matches with only
    whitespace between its words. Blank entries and repeats are skipped. ``also_known``
    words are decoded too (the site's other list).
    """
    entries = tuple(words)
    known = site_lexicon(entries, tuple(also_known))
    return norm.find(norm.normalise(body, known), entries, known)


def site_lexicon(*lists: Iterable[str]) -> norm.Lexicon:
    """The lexicon for a site with these word lists (cached)."""
    return norm.lexicon(tuple(sorted({w for words in lists for w in words})))


def has_link(body: str) -> bool:
    """Whether ``body`` contains something a reader could follow as a link.

    Counts: ``http://`` or ``https://`` followed by a host; ``www.`` followed by a letter
    or digit; and bare domains, i.e. dot-separated names ending in either a common TLD
    (``example.com``, ``shop.example.co.uk``) or any alphabetic TLD followed by ``/``
    (``example.travel/deal``). Case-insensitive. Not counted: e-mail addresses, numbers
    (``3.14``), abbreviations (``e.g.``) and words glued to a full stop whose second part
    is not a listed TLD (``end.Next``). Known false positive: names like ``ASP.NET``;
    the cost is a hold for a new author, not a rejection.
    """
    # Folded like words are, so that full-width look-alikes of a domain count too.
    folded = _fold(body)
    return bool(_URL.search(folded) or _BARE_DOMAIN.search(_EMAIL.sub(" ", folded)))


# --- internals ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Submission:
    site: SitePolicy
    article: ArticleState
    author: AuthorState
    body: str
    normalised: norm.Normalised  # banned and suspect words are looked up in this
    scores: Mapping[str, float] | None


# A final Decision stops the run; a tuple adds hold reasons.
_Phase: TypeAlias = Callable[[_Submission], Decision | tuple[str, ...]]


def _access(s: _Submission) -> Decision | tuple[str, ...]:
    return check_access(s.article, s.author) or ()


def _banned_words(s: _Submission) -> Decision | tuple[str, ...]:
    found = norm.find(s.normalised, s.site.banned_words, s.site.lexicon)
    if not found:
        return ()
    return Decision(
        Action.REJECT,
        tuple(f"banned word: {m.entry}{m.how}" for m in found),
        "banned_word",
        422,
    )


def _classifier(s: _Submission) -> Decision | tuple[str, ...]:
    return (CLASSIFIER_UNAVAILABLE,) if _usable_scores(s.scores) is None else ()


def _scores(s: _Submission) -> Decision | tuple[str, ...]:
    usable = _usable_scores(s.scores)
    if usable is None:
        return ()
    reasons: list[str] = []
    for label, score in usable.items():
        threshold = threshold_for(label, s.site.thresholds)
        # Compare the raw values and print the raw values rounded: the decision never
        # depends on display precision. So 0.7996 against 0.80 publishes even though it
        # would print as "0.80"; we do not round scores before comparing, as that would
        # silently move every threshold down by up to 0.005. Conversely, since a reason is
        # printed only when score >= threshold and rounding is monotonic, the printed score
        # is never below the printed threshold ("0.80 ≥ 0.80" is the worst case, and true).
        if score >= threshold:
            reasons.append(f"{label} {score:.2f} {GE} {threshold:.2f}")
    return tuple(reasons)


def _suspect_words(s: _Submission) -> Decision | tuple[str, ...]:
    found = norm.find(s.normalised, s.site.suspect_words, s.site.lexicon)
    return tuple(f"suspect word: {m.entry}{m.how}" for m in found)


def _suspect_phrases(s: _Submission) -> Decision | tuple[str, ...]:
    # A classifier that scores threats (Detoxify) judges them better than a list does.
    if s.scores and "threat" in s.scores:
        return ()
    found = norm.find(s.normalised, s.site.suspect_phrases, s.site.lexicon)
    return tuple(f"suspect phrase: {m.entry}{m.how}" for m in found)


def _links(s: _Submission) -> Decision | tuple[str, ...]:
    if s.author.has_approved_comment or not s.site.hold_links_from_new_authors:
        return ()
    return (LINK_FROM_NEW_AUTHOR,) if has_link(s.body) else ()


def _premoderation(s: _Submission) -> Decision | tuple[str, ...]:
    if s.site.premoderated or s.article.premoderated:
        return (PREMODERATED,)
    if s.site.premoderate_new_authors and not s.author.has_approved_comment:
        return (NEW_AUTHOR,)
    return ()


_PHASES: tuple[_Phase, ...] = (
    _access,
    _banned_words,
    _classifier,
    _scores,
    _suspect_words,
    _suspect_phrases,
    _links,
    _premoderation,
)


def _check_threshold(label: str, value: float) -> None:
    # Zero or negative would hold everything and break risk's division; NaN would
    # compare false and so publish everything: refuse both at configuration time.
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"threshold for {label!r} must be a positive number, got {value!r}")


def _usable_scores(scores: Mapping[str, float] | None) -> Mapping[str, float] | None:
    # An empty mapping is how an unscored comment is stored (docs/api.md), and a NaN score
    # means the model misbehaved; both count as "classifier unavailable" so the comment
    # is held and re-scored rather than published unchecked.
    if not scores or not all(math.isfinite(value) for value in scores.values()):
        return None
    return scores


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


# Common TLDs, and those spam favours; a bare "name.tld" counts as a link only with one of
# these, because prose glues words to full stops ("end.Next") far more often than it
# names a domain with an exotic TLD and no path.
_COMMON_TLDS = (
    "com|net|org|info|biz|io|co|uk|us|eu|de|fr|ru|cn|xyz|top|online|site|shop|club|app"
    "|dev|ly|gg|tk|me"
)
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_URL = re.compile(r"https?://[^\s/?#]|(?<!\w)www\.[a-z0-9]", re.IGNORECASE)
# A bare domain: starts where a word starts and is not followed by more name characters
# (so "example.community" is not "example.com").
_BARE_DOMAIN = re.compile(
    rf"(?<!\w)(?:{_LABEL}\.)+(?:(?:{_COMMON_TLDS})(?![\w-])|[a-z]{{2,63}}/)", re.IGNORECASE
)
# Removed before looking for bare domains only: an address is not something to click,
# and its domain part would otherwise read as one. (Not before _URL, where it would eat
# the host of "https://user@example.com".)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
