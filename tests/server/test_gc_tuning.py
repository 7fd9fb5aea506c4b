"""`comments serve`'s garbage-collector tuning is applied, refreezes, and can be off."""

from __future__ import annotations

import asyncio
import gc
import time

from comments.server.gc_tuning import THRESHOLDS, PauseMeter
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
