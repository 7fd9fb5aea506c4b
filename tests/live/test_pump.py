"""The pump's eager send: a send that need not wait runs at once, in the caller; one that
must wait is handed back whole, to finish when awaited, with its errors and its
cancellation going where an ``await`` would have sent them."""

from __future__ import annotations

import asyncio

import pytest

from comments.live.pump import send_eagerly


async def loop_turns(n: int = 5) -> None:
    """Let whatever is ready run (no timer involved)."""
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_send_that_need_not_wait_is_done_in_the_call() -> None:
    sent: list[str] = []

    async def send() -> None:
        sent.append("frame")

    assert send_eagerly(send()) is None
    assert sent == ["frame"]


async def test_a_send_that_must_wait_finishes_when_awaited() -> None:
    writable = asyncio.Event()
    sent: list[str] = []

    async def send() -> None:
        sent.append("started")
        await writable.wait()
        await asyncio.sleep(0)  # a bare yield on the way, too
        sent.append("written")

    rest = send_eagerly(send())
    assert rest is not None and sent == ["started"]
    finishing = asyncio.ensure_future(rest)
    await loop_turns()
    assert not finishing.done() and sent == ["started"]
    writable.set()
    await asyncio.wait_for(finishing, 5)
    assert sent == ["started", "written"]


async def test_an_error_after_the_wait_reaches_the_awaiter() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def send() -> None:
        await gate

    rest = send_eagerly(send())
    assert rest is not None
    finishing = asyncio.ensure_future(rest)
    gate.set_exception(ConnectionResetError("client left"))
    with pytest.raises(ConnectionResetError, match="client left"):
        await asyncio.wait_for(finishing, 5)


async def test_cancelling_the_rest_cancels_the_send_inside() -> None:
    writable = asyncio.Event()
    cleaned_up: list[bool] = []

    async def send() -> None:
        try:
            await writable.wait()
        finally:
            cleaned_up.append(True)

    rest = send_eagerly(send())
    assert rest is not None
    finishing = asyncio.ensure_future(rest)
    await loop_turns()
    finishing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await finishing
    assert cleaned_up == [True]


async def test_an_error_before_any_wait_is_raised_by_the_call() -> None:
    async def send() -> None:
        raise ConnectionResetError("gone already")

    with pytest.raises(ConnectionResetError, match="gone already"):
        send_eagerly(send())
