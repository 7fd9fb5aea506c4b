"""Group commit: requests that arrive while a batch is being written go together in the
next one, so a storm costs one transaction per batch instead of one per request.

A lone request is written at once (no waiting window): batches only form when requests
queue behind a write in flight, so latency rises no more than the load requires.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Feeds ``write`` batches of at most ``max_batch`` items, one batch at a time.

    ``write`` answers each item of its batch, in order. When a batch of several fails,
    each of its items is written again alone, so one bad item fails only its own request;
    except for *shared_errors* (the database is down, say), which fail the whole batch at
    once: writing its items one by one would only fail each again, slowly.

    Args:
        write: writes one batch, answers each item.
        max_batch: most items per batch.
        shared_errors: which exceptions fail every item of the batch they hit.
        stopped: the exception a request gets when :meth:`close` leaves it unwritten.
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 200,
        shared_errors: Callable[[Exception], bool] = lambda exc: False,
        stopped: Callable[[], Exception] = lambda: RuntimeError("stopped"),
    ) -> None:
        self.write = write
        self.max_batch = max_batch
        self.shared_errors = shared_errors
        self.stopped = stopped
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._inflight: list[tuple[T, asyncio.Future[R]]] = []
        self._closed = False
        # Batches written and items in them, for the metrics and the tests.
        self.batches = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        """Queue *item*, answer what ``write`` answered for it.

        Raises:
            Exception: what ``write`` raised for it, or ``stopped()`` once closed.
        """
        if self._closed:
            raise self.stopped()
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        # The caller's cancellation (a client gone) does not undo a queued write: the
        # writer answers the future, and nobody reads it.
        return await asyncio.shield(future)

    async def close(self, timeout: float = 5.0) -> None:
        """Refuse new items, write those queued (for at most *timeout* seconds), then
        stop: an item still unwritten gets ``stopped()``."""
        self._closed = True
        writer = self._writer
        if writer is None:
            return
        # Done, failed, cancelled or timed out: asyncio.wait raises none of them.
        await asyncio.wait({writer}, timeout=timeout)
        if not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                self._inflight = batch
                await self._write(batch)
        finally:
            # Cancelled (the node stopping): nobody waits forever on a write not made,
            # and each gets an error its caller can answer (not a bare cancellation).
            for _, future in self._inflight + self._queue:
                _settle(future, self.stopped())
            self._inflight, self._queue = [], []
            self._writer = None

    async def _write(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            answers = await self.write([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1 or self.shared_errors(exc):
                for _, future in batch:
                    _settle(future, exc)
                return
            for one in batch:
                await self._write([one])
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            if not future.done():
                future.set_result(answer)


def _settle(future: asyncio.Future[R], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
