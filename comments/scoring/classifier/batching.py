"""Micro-batching: score concurrent comments together, off the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from comments.scoring.classifier.base import (
    Classifier,
    ClassifierLoadError,
    ClassifierStatus,
    ClassifierUnavailable,
)

log = logging.getLogger(__name__)

Scores = dict[str, float]


@dataclass(slots=True)
class _Request:
    text: str
    future: asyncio.Future[Scores]
    arrived: float  # loop.time() when queued


class MicroBatcher:
    """Collects :meth:`score` calls into batches for one :class:`Classifier`.

    A batch is scored when *max_batch* texts wait or the oldest has waited *max_wait_ms*.
    Scoring runs in one worker thread owned by the batcher, so the event loop (and every
    socket on it) never waits on inference. Every failure — load error, scoring error,
    timeout, shutdown — reaches the callers as :class:`ClassifierUnavailable`, so the
    server can hold the comment (fail closed).

    Args:
        classifier: the classifier, loaded or not (see :meth:`load`).
        max_batch: most texts per ``score_batch`` call.
        max_wait_ms: longest a text waits for others to join its batch (0, the
            default: none; the texts that arrive while a batch is scored make the next).
        timeout_s: longest one ``score_batch`` call may take before its callers fail.
        max_pending: queued texts beyond which :meth:`score` fails at once (overload).

    Raises:
        ValueError: a limit is out of range.
    """

    def __init__(
        self,
        classifier: Classifier,
        *,
        max_batch: int = 16,
        max_wait_ms: float = 0.0,
        timeout_s: float = 5.0,
        max_pending: int = 1024,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.classifier = classifier
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        # One thread: a model is not thread-safe, and torch parallelises inside a call.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="comments-classifier"
        )
        self._pending: deque[_Request] = deque()
        self._has_work = asyncio.Event()
        self._batch_full = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._loading = False
        self._loaded = False
        self._load_error: str | None = None
        self._closed = False
        # A score_batch call that outlived timeout_s and is still running in the thread.
        self._stuck: concurrent.futures.Future[list[Scores]] | None = None
        self._stuck_since = 0.0

    # -- lifecycle ---------------------------------------------------------------------

    async def load(self) -> ClassifierStatus:
        """Load the classifier in the worker thread; a failure is recorded, not raised.

        Returns:
            The status afterwards: ``"failed"`` with the error as detail when loading
            raised (every :meth:`score` then raises ClassifierUnavailable at once).
        """
        if self._loaded or self._closed:
            return self.status()
        loop = asyncio.get_running_loop()
        self._loading = True
        try:
            await loop.run_in_executor(self._executor, self.classifier.load)
        except Exception as exc:
            if isinstance(exc, ClassifierLoadError):
                self._load_error = str(exc)
            else:
                self._load_error = f"{type(exc).__name__}: {exc}"
            log.error("classifier %s failed to load: %s", self.classifier.name, self._load_error)
        else:
            self._loaded = True
            self._load_error = None
        finally:
            self._loading = False
        return self.status()

    async def close(self) -> None:
        """Stop batching, fail whatever still waits, and shut the worker thread down.

        A ``score_batch`` call already running is not interrupted (threads cannot be);
        the thread exits when it returns.
        """
        if self._closed:
            return
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.wait([self._worker])
            self._worker = None
        self._fail(self._pending, "the classifier is shut down")
        self._pending.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def queued(self) -> int:
        """Texts waiting for a batch (not counting the one being scored)."""
        return len(self._pending)

    @property
    def loaded(self) -> bool:
        """True once :meth:`load` has succeeded."""
        return self._loaded

    @property
    def loading(self) -> bool:
        return self._loading

    def status(self) -> ClassifierStatus:
        """Return the classifier's state for ``/readyz``.

        ``"failed"`` until loaded, after a failed load, while a scoring call is stuck
        past *timeout_s*, and after :meth:`close`; ``"fallback"`` when the classifier
        stands in for a better one; else ``"ok"``.
        """
        name = self.classifier.name
        if self._closed:
            return ClassifierStatus(name, "failed", "shut down")
        if self._load_error is not None:
            return ClassifierStatus(name, "failed", self._load_error)
        if not self._loaded:
            return ClassifierStatus(name, "failed", "loading" if self._loading else "not loaded")
        if self._is_stuck():
            stuck_for = time.monotonic() - self._stuck_since
            return ClassifierStatus(
                name,
                "failed",
                f"a scoring call has not returned for {stuck_for:.1f}s "
                f"(timeout {self.timeout_s:g}s); comments are held",
            )
        if self.classifier.fallback_reason:
            return ClassifierStatus(name, "fallback", self.classifier.fallback_reason)
        return ClassifierStatus(name, "ok", self.classifier.detail)

    # -- scoring -----------------------------------------------------------------------

    async def score(self, text: str) -> Scores:
        """Score one text, batched with whatever other texts arrive meanwhile.

        Args:
            text: the comment body.

        Returns:
            The classifier's label → score (0..1) dict for *text*.

        Raises:
            ClassifierUnavailable: not loaded, failed to load, closed, overloaded, stuck
                on an earlier batch, or this batch raised or exceeded *timeout_s*.
        """
        self._check_available()
        if len(self._pending) >= self.max_pending:
            raise ClassifierUnavailable(
                f"classifier overloaded: {len(self._pending)} texts already waiting"
            )
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._run(), name="comments-classifier-batcher")
        future: asyncio.Future[Scores] = loop.create_future()
        self._pending.append(_Request(text, future, loop.time()))
        self._has_work.set()
        if len(self._pending) >= self.max_batch:
            self._batch_full.set()
        # A cancelled caller cancels its future; the worker then skips the text.
        return await future

    def _check_available(self) -> None:
        if self._closed:
            raise ClassifierUnavailable("the classifier is shut down")
        if self._load_error is not None:
            raise ClassifierUnavailable(f"the classifier failed to load: {self._load_error}")
        if not self._loaded:
            raise ClassifierUnavailable("the classifier is not loaded yet")
        if self._is_stuck():
            raise ClassifierUnavailable(
                f"the classifier is still busy with a batch that exceeded {self.timeout_s:g}s"
            )

    def _is_stuck(self) -> bool:
        if self._stuck is not None and self._stuck.done():
            self._stuck = None  # the runaway call finished; the thread is free again
        return self._stuck is not None

    async def _run(self) -> None:
        """Worker task: wait for work, let a batch fill, score it, repeat."""
        loop = asyncio.get_running_loop()
        while True:
            await self._has_work.wait()
            if not self._pending:
                self._has_work.clear()
                continue
            # The oldest text's deadline, so texts queued during the previous batch's
            # scoring (which already waited) go at once.
            delay = self._pending[0].arrived + self.max_wait_s - loop.time()
            if len(self._pending) < self.max_batch and delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._batch_full.wait()
            batch = self._take_batch()
            if batch:
                await self._score(batch)

    def _take_batch(self) -> list[_Request]:
        # Skip callers that gave up.
        live = [r for r in self._pending if not r.future.done()]
        if len(live) <= self.max_batch:
            batch = live
            self._pending.clear()
        else:
            # More wait than fit: the oldest goes, with the texts closest to its length,
            # so a batch pads little (padding is arithmetic thrown away on CPU). Every
            # batch takes the oldest and looks no further than 4 batches' worth.
            # Neighbours only among the oldest few batches' worth: a text is overtaken
            # by at most that many younger ones (FIFO within a window).
            oldest, window = live[0], live[1 : 4 * self.max_batch]
            near = sorted(window, key=lambda r: abs(len(r.text) - len(oldest.text)))
            batch = [oldest, *near[: self.max_batch - 1]]
            taken = {id(r) for r in batch}
            self._pending = deque(r for r in live if id(r) not in taken)
        if not self._pending:
            self._has_work.clear()
        if len(self._pending) < self.max_batch:
            self._batch_full.clear()
        return batch

    async def _score(self, batch: list[_Request]) -> None:
        if self._is_stuck():
            self._fail(batch, "the classifier is still busy with a batch that timed out")
            return
        # Length order keeps similar lengths together for padding-aware classifiers.
        order = sorted(range(len(batch)), key=lambda i: len(batch[i].text))
        texts = [batch[i].text for i in order]
        call = self._executor.submit(self.classifier.score_batch, texts)
        try:
            async with asyncio.timeout(self.timeout_s):
                results = await asyncio.wrap_future(call)
        except TimeoutError:
            self._stuck, self._stuck_since = call, time.monotonic()
            log.error(
                "classifier %s did not score %d texts within %gs",
                self.classifier.name,
                len(texts),
                self.timeout_s,
            )
            self._fail(batch, f"scoring took longer than {self.timeout_s:g}s")
            return
        except asyncio.CancelledError:
            self._fail(batch, "the classifier is shut down")
            raise
        except Exception as exc:
            log.error("classifier %s failed on %d texts: %r", self.classifier.name, len(texts), exc)
            self._fail(batch, f"the classifier failed: {exc!r}", exc)
            return
        if len(results) != len(texts):
            self._fail(batch, f"the classifier returned {len(results)} results for {len(texts)}")
            return
        for position, index in enumerate(order):
            future = batch[index].future
            if not future.done():
                future.set_result(results[position])

    @staticmethod
    def _fail(
        requests: Iterable[_Request], message: str, cause: BaseException | None = None
    ) -> None:
        for request in requests:
            if not request.future.done():
                error = ClassifierUnavailable(message)  # one per waiter: tracebacks differ
                error.__cause__ = cause
                request.future.set_exception(error)
