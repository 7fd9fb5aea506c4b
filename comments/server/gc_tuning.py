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

The price: a reference cycle that becomes garbage after it was frozen is not freed until
the next full collection (:class:`Refreezer`: when the frozen objects have doubled);
objects freed by reference counting, the common case, are freed at once, and each
freeze first collects the young generations, where most cycles die.

:class:`PauseMeter` times every collection (``gc.callbacks``): the longest pause, for
measuring (``GcTuning.meter``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from typing import Any

log = logging.getLogger("comments.gc")

#: Young collections every 5,000 allocations net rather than 700; generation 2 (what
#: came since the last freeze) only rarely: the refreeze keeps it small.
THRESHOLDS = (5_000, 5, 100)


class PauseMeter:
    """The longest collection pause since it was installed, in seconds."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.longest_generation = -1
        self.longest_cpu = 0.0
        self._started_cpu = 0.0
        self.collections = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started, self._started_cpu = time.perf_counter(), time.thread_time()
            return
        self.collections += 1
        took = time.perf_counter() - self._started
        if took > self.longest:
            self.longest, self.longest_generation = took, int(info.get("generation", -1))
        # The CPU it took: on a busy host the wall time also counts the time the
        # process waited for a core mid-collection.
        self.longest_cpu = max(self.longest_cpu, time.thread_time() - self._started_cpu)

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self)


class GcTuning:
    """Applies the tuning above to this process; :meth:`stop` puts things back and logs
    the longest pause. ``enabled`` False only measures (the interpreter's defaults)."""

    def __init__(self, *, enabled: bool = True, freeze_interval_s: float = 2.0) -> None:
        self.enabled = enabled
        self.freeze_interval_s = freeze_interval_s
        self.meter = PauseMeter()
        self._previous = gc.get_threshold()
        self._task: asyncio.Task[None] | None = None
        self.refreezer: Refreezer | None = None

    def start(self) -> None:
        """After start-up, in the event loop: freeze, raise thresholds, refreeze often."""
        if self.enabled:
            gc.collect()
            gc.freeze()
            gc.set_threshold(*THRESHOLDS)
        # From here on: the start-up collection above happens before any socket is open.
        self.meter.install()
        if not self.enabled:
            return
        if self.freeze_interval_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._refreeze_forever())

    async def _refreeze_forever(self) -> None:
        refreezer = self.refreezer = Refreezer()
        while True:
            await asyncio.sleep(self.freeze_interval_s)
            refreezer()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.meter.remove()
        gc.set_threshold(*self._previous)
        # One line an operator (or the bench's gc section) can read.
        log.info(
            "gc: longest pause %.1f ms over %d collections (generation %d; tuning %s; "
            "longest CPU %.1f ms)",
            self.meter.longest * 1000,
            self.meter.collections,
            self.meter.longest_generation,
            "on" if self.enabled else "off",
            self.meter.longest_cpu * 1000,
        )


#: A full collection once what was frozen since start-up has grown this many times over
#: what a full collection left, plus FULL_SLACK objects (a small node's allowance).
FULL_GROWTH = 2.0
FULL_SLACK = 50_000


class Refreezer:
    """Freezes what survived lately; now and then collects everything.

    Frozen objects are never collected, so a socket frozen while open whose objects form
    a reference cycle once it closes would stay in memory for good: measured, about 2 kB
    per closed socket, which at 100 connections a second is hundreds of MB an hour.
    Whenever the objects frozen since start-up (the libraries and the model frozen then
    do not count) have grown past ``FULL_GROWTH`` times what the last full collection
    kept, plus ``FULL_SLACK``, they are unfrozen, collected in full and frozen again:
    one long pause (hundreds of ms at 10,000 sockets), at intervals that lengthen as the
    churn slows, and memory bounded to about twice what the sockets really hold.
    """

    def __init__(self, growth: float = FULL_GROWTH, slack: int = FULL_SLACK) -> None:
        self.growth = growth
        self.slack = slack
        self.full_collections = 0
        self._startup = gc.get_freeze_count()
        self._kept = 0
        # At least what is frozen since start-up: the last count plus what every refreeze
        # froze since (frozen objects that died since only make it larger).
        self._at_most = 0

    def __call__(self) -> None:
        # gc.get_freeze_count() walks every frozen object (20 ms for the 160,000 of a
        # node with the bundled model, more as the sockets grow); what a refreeze adds
        # is this interval's survivors. The exact count is only taken when the bound
        # crosses the limit, so the decision is the one the exact count gives.
        self._at_most += refreeze()
        limit = self.growth * self._kept + self.slack
        if self._at_most <= limit:
            return
        grown = self._at_most = gc.get_freeze_count() - self._startup
        if grown > limit:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.full_collections += 1
            self._kept = self._at_most = max(gc.get_freeze_count() - self._startup, 0)


def refreeze() -> int:
    """Collect the young generations (what came lately: bounded by the thresholds, so
    short), then freeze everything that survived, generation 2 included: what it held
    (the sockets that stayed since the last freeze) is never walked again. Returns how
    many objects it froze."""
    gc.collect(1)
    # What survived is in generation 2 now (the young ones are all but empty).
    survivors = sum(len(gc.get_objects(generation=g)) for g in range(3))
    gc.freeze()
    return survivors
