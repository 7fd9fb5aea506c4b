"""MicroBatcher: batching, per-caller results, failing closed, a free event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence

import pytest

from comments.scoring.classifier import (
    Classifier,
    ClassifierLoadError,
    ClassifierUnavailable,
    MicroBatcher,
)
from comments.scoring.classifier.profanity import ProfanityCheckClassifier
from tests.conftest import wait_until

TEXTS = [
    f"{word} comment number {i}"
    for i, word in enumerate(
        ["thanks", "idiot", "fucking", "great", "moron", "nice", "shit", "hello", "awful", "ok"] * 2
    )
]


class Recording(Classifier):
    """A real, loaded classifier that records every batch it is given."""

    def __init__(self, inner: Classifier) -> None:
        self.inner = inner
        self.name = inner.name
        self.labels = inner.labels
        self.batches: list[list[str]] = []

    def load(self) -> None:
        pass  # the inner classifier is already loaded

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.batches.append(list(texts))
        return self.inner.score_batch(texts)


class Failing(Recording):
    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.batches.append(list(texts))
        raise RuntimeError("model exploded")


class Gated(Recording):
    """Blocks every batch in the worker thread until *release* is set."""

    def __init__(self, inner: Classifier, release: threading.Event) -> None:
        super().__init__(inner)
        self.release = release
        self.entered = threading.Event()

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.entered.set()
        self.release.wait()
        return super().score_batch(texts)


class Unloadable(ProfanityCheckClassifier):
    def load(self) -> None:
        raise ClassifierLoadError("weights are not there")


@pytest.fixture
async def closing() -> AsyncIterator[list[MicroBatcher]]:
    """Batchers appended here are closed at teardown."""
    batchers: list[MicroBatcher] = []
    yield batchers
    for batcher in batchers:
        await batcher.close()


async def loaded(closing: list[MicroBatcher], classifier: Classifier, **kw: float) -> MicroBatcher:
    batcher = MicroBatcher(classifier, **kw)  # type: ignore[arg-type]
    closing.append(batcher)
    assert (await batcher.load()).state in ("ok", "fallback")
    return batcher


async def test_concurrent_calls_share_batches_and_get_their_own_results(
    loaded_classifier: Classifier, closing: list[MicroBatcher]
) -> None:
    recording = Recording(loaded_classifier)
    batcher = await loaded(closing, recording, max_batch=8, max_wait_ms=50)
    results = await asyncio.gather(*(batcher.score(text) for text in TEXTS))

    assert len(recording.batches) < len(TEXTS)
    assert all(len(batch) <= 8 for batch in recording.batches)
    assert sorted(t for batch in recording.batches for t in batch) == sorted(TEXTS)
    for batch in recording.batches:  # length bucketing: each batch goes in length order
        assert [len(t) for t in batch] == sorted(len(t) for t in batch)
    for text, result in zip(TEXTS, results, strict=True):
        assert result == pytest.approx(loaded_classifier.score_batch([text])[0], abs=1e-5)


async def test_results_follow_the_text_even_when_sorting_moves_it(
    profanity_classifier: ProfanityCheckClassifier, closing: list[MicroBatcher]
) -> None:
    batcher = await loaded(closing, profanity_classifier, max_batch=16, max_wait_ms=50)
    long_praise = "thanks for the thoughtful and well researched article, I enjoyed it " * 3
    # The long text is submitted first but scored second (length order).
    praise, insult = await asyncio.gather(
        batcher.score(long_praise), batcher.score("fucking idiot")
    )
    assert insult["profanity"] > 0.5 > praise["profanity"]


async def test_a_classifier_error_fails_every_waiter(
    profanity_classifier: ProfanityCheckClassifier, closing: list[MicroBatcher]
) -> None:
    failing = Failing(profanity_classifier)
    batcher = await loaded(closing, failing, max_batch=16, max_wait_ms=50)
    outcomes = await asyncio.gather(*(batcher.score(t) for t in TEXTS[:6]), return_exceptions=True)
    assert all(isinstance(o, ClassifierUnavailable) for o in outcomes)
    assert isinstance(outcomes[0], ClassifierUnavailable)
    assert isinstance(outcomes[0].__cause__, RuntimeError)
    assert "model exploded" in str(outcomes[0])
    assert len(failing.batches) == 1
    assert batcher.status().state == "ok"  # one bad batch does not take the node out


async def test_a_hung_classifier_times_out_and_the_loop_keeps_running(
    profanity_classifier: ProfanityCheckClassifier,
    closing: list[MicroBatcher],
    release: threading.Event,
) -> None:
    gated = Gated(profanity_classifier, release)
    batcher = await loaded(closing, gated, max_batch=4, max_wait_ms=1, timeout_s=0.3)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    outcomes = await asyncio.gather(*(batcher.score(t) for t in TEXTS[:3]), return_exceptions=True)
    stop.set()
    await ticking
    assert all(isinstance(o, ClassifierUnavailable) for o in outcomes), outcomes
    assert "longer than 0.3s" in str(outcomes[0])
    assert ticks > 100, "the event loop stalled while the classifier hung"

    # Still stuck: fail at once, and say so in the status.
    status = batcher.status()
    assert status.state == "failed" and "has not returned" in status.detail
    with pytest.raises(ClassifierUnavailable, match="still busy"):
        await batcher.score("next")

    release.set()  # the runaway call returns; the batcher recovers
    await wait_until(lambda: batcher.status().state == "ok")
    assert set(await batcher.score("thanks")) == {"profanity"}


async def test_a_classifier_that_cannot_load(closing: list[MicroBatcher]) -> None:
    batcher = MicroBatcher(Unloadable())
    closing.append(batcher)
    status = await batcher.load()
    assert (status.state, status.detail) == ("failed", "weights are not there")
    with pytest.raises(ClassifierUnavailable, match="failed to load: weights are not there"):
        await batcher.score("hello")


async def test_not_loaded_and_closed(
    profanity_classifier: ProfanityCheckClassifier,
) -> None:
    batcher = MicroBatcher(profanity_classifier)
    assert batcher.status().state == "failed" and batcher.status().detail == "not loaded"
    with pytest.raises(ClassifierUnavailable, match="not loaded"):
        await batcher.score("hello")
    assert (await batcher.load()).state == "ok"
    await batcher.close()
    assert batcher.status().detail == "shut down"
    with pytest.raises(ClassifierUnavailable, match="shut down"):
        await batcher.score("hello")
    await batcher.close()  # idempotent


async def test_close_fails_waiting_callers(
    profanity_classifier: ProfanityCheckClassifier, release: threading.Event
) -> None:
    gated = Gated(profanity_classifier, release)
    batcher = MicroBatcher(gated, max_batch=1, max_wait_ms=0, timeout_s=30)
    await batcher.load()
    in_flight = asyncio.create_task(batcher.score("first"))
    await wait_until(gated.entered.is_set)
    queued = asyncio.create_task(batcher.score("second"))
    await wait_until(lambda: batcher.queued == 1)
    await batcher.close()
    for task in (in_flight, queued):
        with pytest.raises(ClassifierUnavailable, match="shut down"):
            await task


async def test_cancelled_callers_are_skipped_and_overload_fails_fast(
    profanity_classifier: ProfanityCheckClassifier,
    closing: list[MicroBatcher],
    release: threading.Event,
) -> None:
    gated = Gated(profanity_classifier, release)
    batcher = await loaded(closing, gated, max_batch=8, max_wait_ms=0, max_pending=2)
    first = asyncio.create_task(batcher.score("first"))
    await wait_until(gated.entered.is_set)  # the worker thread is busy with "first"
    kept = asyncio.create_task(batcher.score("kept"))
    dropped = asyncio.create_task(batcher.score("dropped"))
    await wait_until(lambda: batcher.queued == 2)
    with pytest.raises(ClassifierUnavailable, match="overloaded"):
        await batcher.score("one too many")
    dropped.cancel()
    release.set()
    assert set(await first) == {"profanity"}
    assert set(await kept) == {"profanity"}
    assert dropped.cancelled()
    assert [t for batch in gated.batches for t in batch] == ["first", "kept"]


@pytest.mark.parametrize(
    "kwargs",
    [{"max_batch": 0}, {"max_wait_ms": -1}, {"timeout_s": 0}, {"max_pending": 0}],
)
def test_limits_are_validated(
    kwargs: dict[str, float], profanity_classifier: ProfanityCheckClassifier
) -> None:
    with pytest.raises(ValueError):
        MicroBatcher(profanity_classifier, **kwargs)  # type: ignore[arg-type]


async def test_by_default_a_comment_that_finds_the_classifier_idle_is_scored_at_once(
    loaded_classifier: Classifier, closing: list[MicroBatcher]
) -> None:
    """No waiting window by default: the first comment goes alone as soon as the batcher
    runs (no latency added when comments are few); those that arrive while it is scored
    make the next batch together."""
    release = threading.Event()
    gated = Gated(loaded_classifier, release)
    batcher = MicroBatcher(gated, max_batch=16)
    closing.append(batcher)
    await batcher.load()
    first = asyncio.ensure_future(batcher.score(TEXTS[0]))
    try:
        for _ in range(3):  # the caller queues it, then the batcher takes it: no timer
            await asyncio.sleep(0)
        assert batcher.queued == 0
        rest = [asyncio.ensure_future(batcher.score(t)) for t in TEXTS[1:4]]
        await wait_until(lambda: batcher.queued == 3)
    finally:
        release.set()  # never leave the worker thread blocked
    await asyncio.gather(first, *rest)
    assert [len(b) for b in gated.batches] == [1, 3]


async def test_a_full_queue_is_batched_by_length_around_its_oldest_text(
    loaded_classifier: Classifier, closing: list[MicroBatcher]
) -> None:
    """When more texts wait than a batch holds, the oldest goes with those closest to its
    length (little padding), and the next batch starts from the next oldest."""
    release = threading.Event()
    gated = Gated(loaded_classifier, release)
    batcher = MicroBatcher(gated, max_batch=4)
    closing.append(batcher)
    await batcher.load()
    lengths = [10, 500, 12, 480, 11, 490, 9, 505]
    first = asyncio.ensure_future(batcher.score("first"))
    try:
        await wait_until(gated.entered.is_set)
        rest = [asyncio.ensure_future(batcher.score("x" * n)) for n in lengths]
        await wait_until(lambda: batcher.queued == len(lengths))
    finally:
        release.set()
    await asyncio.gather(first, *rest)
    assert [sorted(len(t) for t in batch) for batch in gated.batches] == [
        [5],
        [9, 10, 11, 12],
        [480, 490, 500, 505],
    ]
