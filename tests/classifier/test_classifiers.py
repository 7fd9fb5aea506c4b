"""The same contract for every implementation: Detoxify (tiny checkpoint) and profanity-check."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import comments
from comments.scoring.classifier.base import Classifier, clamp_score
from comments.scoring.classifier.detoxify_model import DetoxifyClassifier, length_buckets
from comments.scoring.classifier.profanity import ProfanityCheckClassifier
from comments.scoring.classifier.testing import TINY_LABELS

DEMO_ARTICLE = Path(comments.__file__).parent / "static" / "demo" / "article.txt"

MIXED = [
    "you are a fucking idiot",
    "thanks for the thoughtful article",
    "hi",
    "I think the writer is wrong about the first point, but the story is good.",
    "",
    "what a pathetic, disgusting, awful post " * 30,
    "Ünïcödé — ok? 👍",
    "thanks for the thoughtful article",  # duplicate on purpose
]


def assert_valid(classifier: Classifier, scores: list[dict[str, float]], n: int) -> None:
    assert len(scores) == n
    for result in scores:
        assert set(result) == set(classifier.labels)
        for value in result.values():
            assert type(value) is float
            assert 0.0 <= value <= 1.0


def test_scores_are_floats_in_unit_interval(loaded_classifier: Classifier) -> None:
    assert loaded_classifier.labels
    assert_valid(loaded_classifier, loaded_classifier.score_batch(MIXED), len(MIXED))


def test_batch_keeps_order_and_matches_single_scoring(loaded_classifier: Classifier) -> None:
    batch = loaded_classifier.score_batch(MIXED)
    singles = [loaded_classifier.score_batch([text])[0] for text in MIXED]
    for text, got, alone in zip(MIXED, batch, singles, strict=True):
        assert got == pytest.approx(alone, abs=1e-5), text
    # The comparison means something only if different texts score differently.
    assert len({tuple(sorted(s.items())) for s in singles}) > 2


def test_empty_batch(loaded_classifier: Classifier) -> None:
    assert loaded_classifier.score_batch([]) == []


def test_profanity_check_separates_insult_from_praise(
    profanity_classifier: ProfanityCheckClassifier,
) -> None:
    insult, praise = profanity_classifier.score_batch(
        ["you are a fucking idiot", "thanks for the thoughtful article"]
    )
    assert insult["profanity"] > praise["profanity"]
    assert insult["profanity"] > 0.5 > praise["profanity"]


def test_profanity_check_scores_exactly_as_the_library(
    profanity_classifier: ProfanityCheckClassifier,
) -> None:
    """Our direct computation of the bundled model (no scikit-learn call per post) gives
    the library's own scores, on words it knows, words it does not, and odd input."""
    from profanity_check import predict_prob

    words = [*DEMO_ARTICLE.read_text().split(), "fuck", "SHIT", "idiot", "ümlaut", "👍"] * 3
    rng = random.Random(7)
    texts = [" ".join(rng.sample(words, rng.randint(0, 200))) for _ in range(200)]
    texts += ["", "   ", "a", "Scunthorpe", "x" * 5000, "fuck " * 1000]
    ours = [s["profanity"] for s in profanity_classifier.score_batch(texts)]
    theirs = list(predict_prob(texts))
    assert max(abs(a - b) for a, b in zip(ours, theirs, strict=True)) <= 1e-9


def test_detoxify_reports_standardised_labels(detoxify_classifier: DetoxifyClassifier) -> None:
    assert detoxify_classifier.labels == TINY_LABELS
    assert detoxify_classifier.name == "detoxify:original"


def test_detoxify_truncates_texts_longer_than_the_model(
    detoxify_classifier: DetoxifyClassifier,
) -> None:
    # The tiny tokenizer was saved without a length limit and the model has 64
    # positions; uncapped, this would overrun the position table.
    long_text = "word " * 2000
    assert_valid(detoxify_classifier, detoxify_classifier.score_batch([long_text]), 1)


def test_scoring_before_load_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="load"):
        ProfanityCheckClassifier().score_batch(["x"])
    with pytest.raises(RuntimeError, match="load"):
        DetoxifyClassifier().score_batch(["x"])


def test_length_buckets_cover_every_index_once() -> None:
    lengths = [5, 400, 7, 30, 0, 900, 35, 6]
    buckets = length_buckets(lengths)
    assert sorted(i for bucket in buckets for i in bucket) == list(range(len(lengths)))
    for bucket in buckets:
        sizes = [lengths[i] for i in bucket]
        assert sizes == sorted(sizes)
        assert sizes[-1] <= 2 * sizes[0] + 32
    assert length_buckets([]) == []


def test_clamp_score_rejects_nan() -> None:
    assert clamp_score(1.0000001) == 1.0
    assert clamp_score(-0.0) == 0.0
    with pytest.raises(ValueError, match="non-finite"):
        clamp_score(float("nan"))
