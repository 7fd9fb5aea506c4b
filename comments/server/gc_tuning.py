"""The garbage collector on a serving node: short pauses at 10,000 sockets.

A full collection walks every tracked object; a node holding thousands of sockets has
millions (each socket's protocol, buffers, queues, tasks), and CPython's generation 2
collection then stops the event loop for hundreds of milliseconds, during which no
socket is written. What helps (applied by ``comments serve``, off with
``COMMENTS_GC_TUNING=0``):

- once started, everything alive (libraries, the model, the node) is frozen
  (:func:`gc.freeze`): no collection walks it again;
- then, every ``COMMENTS_GC_FREEZE_INTERVAL_S``, a collection of what came since (the
  sockets connected meanwhile: a burst of handshakes) followed by a freeze, so long-lived
  sockets leave the collector's view instead of piling up in generation 2;
- a higher generation-0 threshold: fewer young collections while a burst connects.

The price: a reference cycle that becomes garbage after it was frozen is not freed
(objects freed by reference counting, the common case, still are). Each freeze first
collects what it is about to freeze, so only cycles broken later leak.

:class:`PauseMeter` times every collection (``gc.callbacks``): the longest pause, for
measuring (``GcTuning.meter``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from typing import Any

#: Young collections every 10,000 allocations net rather than 700.
THRESHOLDS = (10_000, 10, 10)


class PauseMeter:
    """The longest collection pause since it was installed, in seconds."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.collections = 0
        self._started = 0.0

    def __call__(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.collections += 1
        self.longest = max(self.longest, time.perf_counter() - self._started)

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self)


class GcTuning:
    """Applies the tuning above to this process; :meth:`stop` puts things back."""

    def __init__(self, *, freeze_interval_s: float = 10.0) -> None:
        self.freeze_interval_s = freeze_interval_s
        self.meter = PauseMeter()
        self._previous = gc.get_threshold()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """After start-up, in the event loop: freeze, raise thresholds, refreeze often."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)
        self.meter.install()
        if self.freeze_interval_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._refreeze_forever())

    async def _refreeze_forever(self) -> None:
        while True:
            await asyncio.sleep(self.freeze_interval_s)
            refreeze()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.meter.remove()
        gc.set_threshold(*self._previous)


def refreeze() -> None:
    """Collect what is not frozen yet (only what came since the last freeze: short),
    then freeze what survived."""
    gc.collect()
    gc.freeze()
