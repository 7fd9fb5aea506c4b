"""Undo the tricks that hide a word from word lists and classifiers.

Pure (no I/O). :func:`normalise` turns a comment into words a word list or a classifier
recognises, and keeps, for each word, where it came from in the original text, so that a
reason can say what matched and how (``banned word: casino (as "c.a.s.i.n.o")``).

Steps, in order:

1. per character: Unicode NFKC (full-width, mathematical alphanumerics, superscripts),
   format characters dropped (zero-width space/joiner, BOM, soft hyphen: category Cf),
   combining marks dropped (accents, strike-through: decomposed, category Mn/Me), case
   folded;
2. confusables: a word made only of Latin letters and letters that Unicode's
   confusables data (the ``confusable_homoglyphs`` package) says look like a Latin
   letter is read as those Latin letters (``fu\\u0441k`` with a Cyrillic es). A word with any
   letter of its own script (Russian ``привет``) is left alone;
3. fuzzy steps, each kept only when it yields a *known word* (the built-in lexicon of
   profanity and insults, plus the site's banned and suspect words): leetspeak and
   symbols (``sh1t``, ``pi$$``, ``@sshole``, ``f*ck``), squeezed repeats
   (``fuuuuck``), phonetic spellings (``phuck``, ``fvck``), dropped vowels (``fck``),
   and single letters separated by spaces, dots, dashes or underscores (``f u c k``,
   ``c.a.s.i.n.o``). Gating on known words is what keeps ``A w e s o m e``, ``1 in 3``
   and ``hello!`` as they were: nothing is rewritten into a word that is not a target.

Matching is whole-word on the result, so ``Scunthorpe``, ``assassination`` or
``cockpit`` never contain a match.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from confusable_homoglyphs import confusables as _confusables

# --- the built-in lexicon -----------------------------------------------------------------

#: Profanity and insult stems. They do not flag anything by themselves (the classifier and
#: the site's lists decide); they are what obfuscated spellings are decoded *into*.
PROFANITY: tuple[str, ...] = (
    "arse", "arsehole", "ass", "asshat", "asshole", "bastard", "bellend", "bitch", "bollocks",
    "bullshit", "butthole", "cock", "cocksucker", "crap", "cretin", "cunt", "damn", "dick",
    "dickhead", "dildo", "dipshit", "douche", "douchebag", "dumb", "dumbass", "dumbfuck",
    "fag", "faggot", "fuck", "fuckface", "fuckhead", "fucktard", "fuckwit", "goddamn",
    "idiot", "imbecile", "jackass", "jerk", "jerkoff", "loser", "moron", "motherfuck",
    "motherfucker", "nazi", "nigga", "nigger", "numbnuts", "piss", "prick", "pussy",
    "retard", "scum", "scumbag", "shit", "shithead", "shithole", "skank", "slut", "stfu",
    "stupid", "twat", "wank", "wanker", "whore", "wtf",
)  # fmt: skip

#: Words of the default threat phrases, so ``k i l l yourself`` is read as ``kill``.
THREAT_WORDS: tuple[str, ...] = ("kill", "die", "hurt", "murder", "rape", "stab", "shoot")

# Endings a stem takes ("fucking", "idiots", "bitchy"); checked only on stems of 3+ letters.
_SUFFIXES = ("", "s", "es", "ed", "er", "ers", "ing", "ings", "in", "y", "ies", "ty")
_VOWELS = frozenset("aeiou")

# What a symbol or digit stands for inside a word; several readings are all tried.
_LEET: dict[str, str] = {
    "0": "o", "1": "il", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
    "@": "a", "$": "s", "!": "il", "|": "il", "+": "t", "€": "e",
}  # fmt: skip
# A star stands for any letter ("f**k"); matched against the lexicon, not expanded.
_WILDCARD = "*"
# Symbols that are also plain punctuation: stripped from a word's ends when it does not
# decode with them ("hello!" is "hello", "sh!t" is "shit").
_EDGE_PUNCTUATION = "!|+*"
# Phonetic spellings, as (written, meant).
_PHONETIC = (
    ("ph", "f"), ("v", "u"), ("q", "ck"), ("kk", "ck"), ("k", "ck"), ("z", "s"),
    ("x", "cks"), ("ia", "i"),
)  # fmt: skip
_MAX_FUZZY_LENGTH = 24  # longer tokens are not decoded (cost, and no insult is that long)
_MAX_CANDIDATES = 256  # per token, across all readings
# Between single letters that spell a word: spaces, dots, dashes, underscores and the like.
_LETTER_GAP = re.compile(r"[\s._\-·•*/\\~,+=:]{1,3}")
_MAX_LETTER_RUN = 40
# A run of word characters and the symbols above (an underscore separates words).
_RUN = re.compile(r"(?:[^\W_]|[@$!|+*€])+")
_ALNUM = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Lexicon:
    """The words fuzzy decoding may produce: stems (with endings) and exact words."""

    words: frozenset[str]
    stems: frozenset[str]
    skeletons: tuple[tuple[str, str], ...] = ()  # (consonants, word), e.g. ("fck", "fuck")
    _skeleton_map: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        self._skeleton_map.update(self.skeletons)

    def knows(self, candidate: str) -> str | None:
        """The known word ``candidate`` spells (itself, or a stem's for ``fck``)."""
        if _WILDCARD in candidate:
            return self._wildcard(candidate)
        if candidate in self.words:
            return candidate
        for suffix in _SUFFIXES:
            if not candidate.endswith(suffix):
                continue
            stem = candidate[: len(candidate) - len(suffix)]
            if len(stem) < 3:
                continue
            if stem in self.stems:
                return candidate
            if not (_VOWELS & set(stem)) and stem in self._skeleton_map:
                return self._skeleton_map[stem] + suffix
        return None

    def _wildcard(self, candidate: str) -> str | None:
        if candidate.strip(_WILDCARD) == "":
            return None  # "***" is not a word
        pattern = re.compile(re.escape(candidate).replace(re.escape(_WILDCARD), "[a-z]"))
        for word in sorted(self.words):
            if pattern.fullmatch(word):
                return word
        for stem in sorted(self.stems):
            for suffix in _SUFFIXES:
                if pattern.fullmatch(stem + suffix):
                    return stem + suffix
        return None


def _skeleton(word: str) -> str:
    return "".join(c for c in word if c not in _VOWELS)


@lru_cache(maxsize=256)
def lexicon(extra: tuple[str, ...] = ()) -> Lexicon:
    """The built-in lexicon plus ``extra`` words (a site's banned and suspect words).

    A multi-word entry contributes its words of 3+ letters; an entry is normalised like a
    comment first, so ``C4SINO`` teaches ``casino``.
    """
    stems = set(PROFANITY) | set(THREAT_WORDS)
    words: set[str] = set()
    for entry in extra:
        for part in _fold_text(entry).split():
            part = "".join(_ALNUM.findall(part))
            if len(part) >= 3:
                words.add(part)
    skeletons: dict[str, str | None] = {}
    for word in PROFANITY:
        skeleton = _skeleton(word)
        if len(skeleton) >= 3 and skeleton != word:
            # Two words with one skeleton: ambiguous, so neither is guessed.
            skeletons[skeleton] = None if skeleton in skeletons else word
    return Lexicon(
        words=frozenset(words),
        stems=frozenset(stems),
        skeletons=tuple(sorted((k, v) for k, v in skeletons.items() if v is not None)),
    )


# --- per-character folding ----------------------------------------------------------------


@lru_cache(maxsize=65536)
def _fold_char(char: str) -> str:
    """NFKC, no format characters or combining marks, case folded: 0+ characters."""
    out = []
    for c in unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", char)):
        if unicodedata.category(c) in ("Cf", "Mn", "Me"):
            continue
        out.append(c)
    return unicodedata.normalize("NFC", "".join(out)).casefold()


@lru_cache(maxsize=65536)
def _latin_look_alike(char: str) -> str | None:
    """The ASCII letter ``char`` is confusable with, from Unicode's confusables data."""
    if char.isascii():
        return char if char.isalpha() else None
    found = _confusables.confusables_data.get(char)
    if not found:
        return None
    for glyph in found:
        target: str = glyph["c"]
        if len(target) == 1 and target.isascii() and target.isalpha():
            return target.lower()
    return None


def _fold_text(text: str) -> str:
    return "".join(_fold_char(c) for c in text)


def _unconfuse(word: str) -> str:
    """A word in Latin letters and their look-alikes, read as Latin; others unchanged."""
    if word.isascii():
        return word
    out = []
    for c in word:
        if not c.isalpha() or c.isascii():
            out.append(c)
            continue
        latin = _latin_look_alike(c)
        if latin is None:
            return word  # a letter of another script that looks like nothing Latin
        out.append(latin)
    return "".join(out)


# --- decoding one token -------------------------------------------------------------------


def _leet_readings(token: str) -> Iterator[str]:
    options = [_LEET.get(c, c) if c in _LEET else c for c in token]
    for combo in itertools.product(*options):
        yield "".join(combo)


def _squeezed(token: str) -> Iterator[str]:
    groups = [(char, len(list(run))) for char, run in itertools.groupby(token)]
    options = [
        [char * n for n in dict.fromkeys((min(length, 2), 1))] if length > 1 else [char]
        for char, length in groups
    ]
    for combo in itertools.product(*options):
        yield "".join(combo)


def _phonetic(token: str) -> Iterator[str]:
    rules = [rule for rule in _PHONETIC if rule[0] in token]
    for n in range(len(rules) + 1):
        for chosen in itertools.combinations(rules, n):
            out = token
            for written, meant in chosen:
                out = out.replace(written, meant)
            yield out


def _candidates(token: str) -> Iterator[str]:
    for leet in _leet_readings(token):
        for squeezed in _squeezed(leet):
            yield from _phonetic(squeezed)


@lru_cache(maxsize=65536)
def _decode(token: str, known: Lexicon) -> str | None:
    """The known word an (already folded) token spells, or None."""
    if len(token) < 2 or len(token) > _MAX_FUZZY_LENGTH or not any(c.isalpha() for c in token):
        return None
    for candidate in itertools.islice(_candidates(token), _MAX_CANDIDATES):
        word = known.knows(candidate)
        if word is not None:
            return word
    return None


# --- the text -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """A word of the normalised text and the span of the original it was read from."""

    word: str
    start: int
    end: int


@dataclass(frozen=True)
class Normalised:
    original: str
    tokens: tuple[Token, ...]
    text: str  # the normalised text, for the classifier

    def shown(self, first: int, last: int) -> str:
        """The original text of tokens ``first``..``last`` (inclusive)."""
        return self.original[self.tokens[first].start : self.tokens[last].end]

    def gap(self, left: int) -> str:
        """The original text between token ``left`` and the next one."""
        return self.original[self.tokens[left].end : self.tokens[left + 1].start]


def normalise(text: str, known: Lexicon | None = None) -> Normalised:
    """Read ``text`` as words; see the module's docstring for what is undone."""
    return _normalise(text, known or lexicon())


# A post reads its body three times (banned words, the policy, the classifier's pieces)
# and every suspect phrase of its site each time: ~30 normalisations per post, the
# largest CPU cost of posting after the database. The result is immutable; the lexicon
# is the same cached object from one call to the next, so a hit costs a hash.
@lru_cache(maxsize=512)
def _normalise(text: str, known: Lexicon) -> Normalised:
    folded, origin = _fold_with_origin(text)
    tokens = _join_letters(list(_tokens(folded, origin, known)), text, known)
    return Normalised(text, tuple(tokens), _rebuild(text, tokens))


def _fold_with_origin(text: str) -> tuple[str, list[int]]:
    """The folded text, and for each of its characters the index it came from."""
    parts: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = _fold_char(char)
        parts.append(folded)
        origin.extend([index] * len(folded))
    origin.append(len(text))
    return "".join(parts), origin


def _tokens(folded: str, origin: list[int], known: Lexicon) -> Iterator[Token]:
    for run in _RUN.finditer(folded):
        start, end = run.start(), run.end()
        raw = _unconfuse(run.group())
        word = _decode(raw, known)
        if word is None:  # "hello!" is "hello", "sh!t" stays whole
            stripped = raw.strip(_EDGE_PUNCTUATION)
            if stripped and stripped != raw:
                offset = raw.index(stripped)
                word = _decode(stripped, known)
                if word is not None:
                    start, end = start + offset, start + offset + len(stripped)
        if word is not None:
            yield Token(word, origin[start], origin[end - 1] + 1)
            continue
        for part in _ALNUM.finditer(raw):  # no known word: plain words, symbols dropped
            s, e = start + part.start(), start + part.end()
            yield Token(_decode(part.group(), known) or part.group(), origin[s], origin[e - 1] + 1)


def _join_letters(tokens: list[Token], text: str, known: Lexicon) -> list[Token]:
    """Single letters separated by spaces, dots, dashes… joined where they spell known
    words: ``f u c k`` → ``fuck``, while ``A w e s o m e`` stays seven letters."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        j = i
        if len(tokens[i].word) == 1:
            while (
                j + 1 < len(tokens)
                and j + 1 - i < _MAX_LETTER_RUN
                and len(tokens[j + 1].word) == 1
                and _LETTER_GAP.fullmatch(_fold_text(text[tokens[j].end : tokens[j + 1].start]))
            ):
                j += 1
        if j == i:
            out.append(tokens[i])
            i += 1
            continue
        out.extend(_spell(tokens[i : j + 1], known))
        i = j + 1
    return out


# Short words a spelled-out run may also contain ("i am a f u c k i n g idiot" has the "a",
# "f u c k y o u" the "you"); any other letter left over means the run is not spelling
# words ("C L A S S I C" holds "ass" but also "c", "l", "i", "c"), so it stays as typed.
_FILLERS = frozenset(
    (
        "a", "i", "o", "u", "r", "y", "ya", "yo", "you", "ur", "your", "me", "my", "off",
        "up", "it", "is", "so", "no", "oh", "in", "on", "of", "to", "and", "the", "this",
        "that", "all", "him", "her", "them", "us", "go", "are",
    )
)  # fmt: skip


def _spell(letters: list[Token], known: Lexicon) -> list[Token]:
    """The run read as known words and fillers, fewest pieces first; else as it was."""
    chars = "".join(t.word for t in letters)
    n = len(chars)
    # best[i]: the fewest pieces covering chars[:i], with the pieces (end, word-or-None).
    best: list[tuple[int, list[tuple[int, str | None]]] | None] = [None] * (n + 1)
    best[0] = (0, [])
    for end in range(1, n + 1):
        for start in range(max(0, end - _MAX_FUZZY_LENGTH), end):
            prior = best[start]
            if prior is None:
                continue
            piece = chars[start:end]
            word = _decode(piece, known) if end - start > 1 else None
            if word is None and piece not in _FILLERS:
                continue
            count = prior[0] + 1
            if best[end] is None or count < best[end][0]:  # type: ignore[index]
                best[end] = (count, [*prior[1], (end, word)])
    found = best[n]
    if found is None or all(word is None for _, word in found[1]):
        return letters
    out: list[Token] = []
    start = 0
    for end, word in found[1]:
        if word is None:
            out.extend(letters[start:end])
        else:
            out.append(Token(word, letters[start].start, letters[end - 1].end))
        start = end
    return out


def _rebuild(text: str, tokens: Iterable[Token]) -> str:
    out: list[str] = []
    at = 0
    for token in tokens:
        out.append(_fold_text(text[at : token.start]))
        out.append(token.word)
        at = token.end
    out.append(_fold_text(text[at:]))
    return "".join(out)


# --- matching -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    entry: str  # as configured
    shown: str  # the original text it matched

    @property
    def how(self) -> str:
        """`` (as "c.a.s.i.n.o")`` when the text is not simply the entry, else ``""``."""
        plain = " ".join(_fold_text(self.entry).split())
        if " ".join(_fold_text(self.shown).split()) == plain:
            return ""
        return f' (as "{self.shown}")'


def find(body: Normalised, entries: Iterable[str], known: Lexicon | None = None) -> list[Match]:
    """The entries (words or phrases) found as whole words in ``body``, in entry order.

    A phrase's words must follow each other with only whitespace between them (a comma
    or a full stop breaks a phrase). Blank entries and repeats are skipped.
    """
    known = known or lexicon()
    found: list[Match] = []
    seen: set[tuple[str, ...]] = set()
    words = [t.word for t in body.tokens]
    for entry in entries:
        parts = tuple(t.word for t in normalise(entry, known).tokens)
        if not parts or parts in seen:
            continue
        seen.add(parts)
        for i in range(len(words) - len(parts) + 1):
            if tuple(words[i : i + len(parts)]) == parts and all(
                not body.gap(k).strip() for k in range(i, i + len(parts) - 1)
            ):
                found.append(Match(entry.strip(), body.shown(i, i + len(parts) - 1)))
                break
    return found


# --- pieces for the classifier ------------------------------------------------------------

#: Comments longer than this are also scored piece by piece.
WINDOW_CHARS = 240
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def pieces(body: str, normalised: str) -> list[str]:
    """What the classifier scores for one comment; the decision takes the highest score.

    The original and the normalised text (when they differ) and, for a long comment,
    its sentences packed into windows of at most about ``WINDOW_CHARS``, so an insult
    at the end of a long, benign paragraph is scored on its own.
    """
    out = [body]
    # lower(), not casefold(): the classifiers lower-case by themselves, but long s → "s" is a
    # fold they do not make.
    if normalised != body.lower():
        out.append(normalised)
    if len(body) > WINDOW_CHARS:
        for text in list(out):
            out.extend(_windows(text))
    return list(dict.fromkeys(out))


def _windows(text: str) -> Iterator[str]:
    window = ""
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        while len(sentence) > WINDOW_CHARS:  # one very long sentence: cut at spaces
            cut = sentence.rfind(" ", 0, WINDOW_CHARS)
            cut = cut if cut > 0 else WINDOW_CHARS
            if window:
                yield window
                window = ""
            yield sentence[:cut]
            sentence = sentence[cut:].strip()
        if window and len(window) + 1 + len(sentence) > WINDOW_CHARS:
            yield window
            window = ""
        window = f"{window} {sentence}".strip()
    if window:
        yield window
