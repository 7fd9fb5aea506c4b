"""Normalisation (comments/moderation/normalise.py): what is undone, what is left alone."""

from __future__ import annotations

import pytest

from comments.moderation import policy
from comments.moderation.normalise import WINDOW_CHARS, lexicon, normalise, pieces

KNOWN = lexicon(("casino", "crypto"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("F.U.C.K. this", "fuck. this", id="dotted-letters"),
        pytest.param("f_u_c_k this", "fuck this", id="underscored-letters"),
        pytest.param("f-u-c-k you", "fuck you", id="dashed-letters"),
        pytest.param("you d u m b a s s", "you dumbass", id="spaced-letters"),
        pytest.param("I am a f u c k i n g idiot", "i am a fucking idiot", id="spaced-with-a"),
        pytest.param("c.a.s.i.n.o", "casino", id="site-word-spelled-out"),
        pytest.param("fuuuuucking", "fucking", id="repeats"),
        pytest.param("asssssshole", "asshole", id="repeats-keep-double"),
        pytest.param("sh1t b1tch m0r0n", "shit bitch moron", id="digits"),
        pytest.param("pi$$ @sshole", "piss asshole", id="symbols"),
        pytest.param("sh!t, really!", "shit, really!", id="bang-inside-not-at-end"),
        pytest.param("f**k sh*t", "fuck shit", id="stars"),
        pytest.param("\uff46\uff55\uff43\uff4b", "fuck", id="full-width"),
        pytest.param("fu\u200bck", "fuck", id="zero-width-space"),
        pytest.param("fu\u200dck", "fuck", id="zero-width-joiner"),
        pytest.param("fu\u00adck", "fuck", id="soft-hyphen"),
        pytest.param("\ufefffuck", "fuck", id="bom"),
        pytest.param("\u1da0\u1d58\u1d9c\u1d4f", "fuck", id="modifier-letters"),
        pytest.param("f\u00fack", "fuck", id="accent"),
        pytest.param("f\u0336u\u0336c\u0336k\u0336", "fuck", id="strike-through"),
        pytest.param("fu\u0441k", "fuck", id="cyrillic-es"),
        pytest.param("\u0456diot", "idiot", id="cyrillic-i"),
        pytest.param("m\u043eron", "moron", id="cyrillic-o"),
        pytest.param("\U0001d41f\U0001d42e\U0001d41c\U0001d424", "fuck", id="math-bold"),
        pytest.param("phuck fvck fck", "fuck fuck fuck", id="phonetic"),
        pytest.param("fcking", "fucking", id="no-vowels-with-ending"),
        pytest.param("biatch dikhead", "bitch dickhead", id="spelling"),
    ],
)
def test_obfuscations_are_undone(text: str, expected: str) -> None:
    assert normalise(text, KNOWN).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "a w e s o m e",
        "c l a s s i c",  # holds "ass", but also letters that spell nothing
        "s u s s e x",
        "scunthorpe",
        "assassination",
        "cockpit",
        "1 in 3 voters",
        "40% in 2024",
        "call 555-0134",
        "hello!",
        "anna@example.org",
        "https://example.com/report",
        "\u043f\u0440\u0438\u0432\u0435\u0442 \u0434\u0440\u0443\u0433",  # Russian: left alone
        "mp3 and 4k",
        "shiitake",
        "dick cheney",
    ],
)
def test_clean_text_is_left_as_it_was(text: str) -> None:
    assert normalise(text, KNOWN).text == text


def test_accents_are_folded_but_the_words_stay() -> None:
    assert normalise("Jos\u00e9 \u00c1lvarez").text == "jose alvarez"


@pytest.mark.parametrize(
    ("body", "words", "found"),
    [
        ("win at the c.a.s.i.n.o", ("casino",), ['casino (as "c.a.s.i.n.o")']),
        ("win at the CASINO", ("casino",), ["casino"]),
        ("win at the c4sin0", ("casino",), ['casino (as "c4sin0")']),
        ("the casinos", ("casino",), []),
        ("Scunthorpe", ("cunt",), []),
        ("an assassination", ("ass",), []),
        ("a classic cockpit", ("ass", "cock"), []),
        ("Dick Cheney", ("cheney dick",), []),
        ("A w e s o m e", ("some",), []),
        ("Sussex", ("sex",), []),
        ("k i l l yourself", ("kill yourself",), ['kill yourself (as "k i l l yourself")']),
        ("kill, yourself", ("kill yourself",), []),
    ],
)
def test_word_lists_match_whole_words_and_say_how(
    body: str, words: tuple[str, ...], found: list[str]
) -> None:
    matches = policy.find_matches(body, words)
    assert [f"{m.entry}{m.how}" for m in matches] == found


def test_a_banned_word_reason_names_the_disguise() -> None:
    decision = policy.decide(
        policy.SitePolicy(banned_words=("casino",)),
        policy.ArticleState(),
        policy.AuthorState(),
        "c.a.s.i.n.o night",
        {"profanity": 0.1},
    )
    assert decision.reasons == ('banned word: casino (as "c.a.s.i.n.o")',)


@pytest.mark.parametrize(
    ("scores", "reasons"),
    [
        ({"profanity": 0.1}, ("suspect phrase: hope you die",)),
        (None, (policy.CLASSIFIER_UNAVAILABLE, "suspect phrase: hope you die")),
        # A classifier that scores threats judges them; the list stands down.
        ({"toxicity": 0.1, "threat": 0.1}, ()),
    ],
)
def test_suspect_phrases_hold_only_without_a_threat_label(
    scores: dict[str, float] | None, reasons: tuple[str, ...]
) -> None:
    decision = policy.decide(
        policy.SitePolicy(suspect_phrases=policy.DEFAULT_SUSPECT_PHRASES),
        policy.ArticleState(),
        policy.AuthorState(),
        "I hope you die soon",
        scores,
    )
    assert decision.reasons == reasons
    assert decision.action is (policy.Action.HOLD if reasons else policy.Action.PUBLISH)


def test_no_suspect_phrases_hold_nothing() -> None:
    decision = policy.decide(
        policy.SitePolicy(), policy.ArticleState(), policy.AuthorState(), "kill yourself", {}
    )
    assert decision.reasons == (policy.CLASSIFIER_UNAVAILABLE,)


def test_pieces_score_the_original_the_normalised_and_windows_of_a_long_comment() -> None:
    assert pieces("nice", "nice") == ["nice"]
    assert pieces("Nice", "nice") == ["Nice"]  # case alone is no new reading
    assert pieces("sh1t", "shit") == ["sh1t", "shit"]
    benign = "The council met on Tuesday about the buses. " * 15
    body = benign + "fuck you"
    windows = pieces(body, body.lower())
    assert windows[0] == body
    assert all(len(w) <= WINDOW_CHARS for w in windows[1:])
    assert any(w.endswith("fuck you") for w in windows[1:])


def test_a_long_sentence_without_stops_is_cut_into_windows() -> None:
    body = "word " * 200
    windows = pieces(body, body)[1:]
    assert windows and all(0 < len(w) <= WINDOW_CHARS for w in windows)


def test_adversarial_input_stays_fast_enough_to_finish() -> None:
    # Many single letters and symbols: bounded by the run and candidate caps.
    text = " ".join("abcdefghijklmnopqrstuvwxyz" * 40) + " " + "$@!1" * 500
    assert normalise(text).tokens
