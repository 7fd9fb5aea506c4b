"""`comments serve`'s garbage-collector tuning is applied, refreezes, and can be off."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

import pytest

from comments.server.gc_tuning import THRESHOLDS, PauseMeter, Refreezer
from comments.settings import Settings
from tests.conftest import add_site


async def test_a_serving_node_freezes_raises_thresholds_and_refreezes_new_objects(
    settings: Settings, start_server
) -> None:
    await add_site(settings.database_url)
    before = gc.get_threshold()
    try:
        server = await start_server(settings.with_(gc_freeze_interval_s=0.2), freeze_gc=True)
        assert gc.get_threshold() == THRESHOLDS
        frozen = gc.get_freeze_count()
        assert frozen > 50_000  # the libraries, the model, the node
        # Objects made after start-up (a burst of sockets, here plain containers) leave
        # the collector's view at the next refreeze.
        burst = [[i] for i in range(20_000)]
        deadline = time.monotonic() + 20
        while gc.get_freeze_count() < frozen + len(burst):
            assert time.monotonic() < deadline, "new objects were never frozen"
            await asyncio.sleep(0.05)
        tuning = server.app.state.gc_tuning
        assert isinstance(tuning.meter, PauseMeter) and tuning.meter in gc.callbacks
        async with server.client() as http:
            r = await http.post(
                "/api/v1/sites/news/articles/frozen/comments",
                json={"body": "still works", "author_name": "Ana"},
            )
        assert r.status_code == 201, r.text
        # Stopped, it puts the interpreter's settings back and freezes nothing more.
        await server.stop()
        assert gc.get_threshold() == before and tuning.meter not in gc.callbacks
        gc.unfreeze()
        del burst
        await asyncio.sleep(0.5)
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_the_tuning_can_be_turned_off(settings: Settings, start_server) -> None:
    await add_site(settings.database_url)
    before = gc.get_threshold()
    gc.unfreeze()
    try:
        server = await start_server(settings.with_(gc_tuning=False), freeze_gc=True)
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == before
        # It still measures.
        tuning = server.app.state.gc_tuning
        assert not tuning.enabled and tuning.meter in gc.callbacks
        await server.stop()
        assert tuning.meter not in gc.callbacks
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_pause_meter_records_the_longest_collection() -> None:
    meter = PauseMeter()
    meter.install()
    try:
        gc.collect()
    finally:
        meter.remove()
    assert meter.collections >= 1 and meter.longest > 0
    assert meter not in gc.callbacks


class _Node:
    """A stand-in for a closed socket's objects: a reference cycle."""

    def __init__(self) -> None:
        self.me = self


def test_cycles_frozen_while_alive_are_freed_by_a_later_full_collection() -> None:
    # Frozen objects are never collected: without the full collections, a closed
    # socket's cycle frozen while it was open would stay in memory for good.
    gc.collect()
    gc.freeze()
    try:
        refreezer = Refreezer(growth=2.0, slack=1_000)
        closed = [_Node() for _ in range(500)]
        watch = [weakref.ref(n) for n in closed]
        refreezer()  # frozen while "open"
        del closed  # "closed": only their own cycles hold them now
        for _ in range(20):
            gc.collect()
        assert all(w() is not None for w in watch), "frozen cycles are out of gc's reach"
        # More objects frozen since: past the allowance, a full collection frees them.
        for _ in range(5):
            _churn = [_Node() for _ in range(1_000)]
            refreezer()
            del _churn
        assert refreezer.full_collections >= 1
        assert all(w() is None for w in watch)
    finally:
        gc.unfreeze()


def test_the_full_collection_comes_when_the_exact_count_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The frozen objects are counted exactly (a walk over all of them) only once the
    # running bound crosses the limit; the decision is the exact count's.
    gc.collect()
    gc.freeze()
    counted: list[int] = []
    real_count = gc.get_freeze_count

    def counting() -> int:
        counted.append(1)
        return real_count()

    try:
        refreezer = Refreezer(growth=2.0, slack=1_000)
        monkeypatch.setattr(gc, "get_freeze_count", counting)
        kept = [_Node() for _ in range(100)]
        refreezer()
        assert counted == [] and refreezer.full_collections == 0
        # Frozen, then dead: the bound counts them, the exact count does not.
        for _ in range(3):
            dying = [[] for _ in range(400)]  # no cycles: freed while frozen
            refreezer()
            del dying
        assert len(counted) >= 1
        assert refreezer.full_collections == 0
        for _ in range(3):
            _churn = [_Node() for _ in range(1_000)]
            refreezer()
        assert refreezer.full_collections >= 1
        del kept
    finally:
        gc.unfreeze()
