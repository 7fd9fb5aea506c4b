"""The one loop both kinds of socket run: send what waits, close when told, until the
client leaves (readers have nothing to say; reading only notices the close)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect


class Outbox(Protocol):
    """What a socket's writer drains: a hub subscriber, or a moderation feed one."""

    wakeup: asyncio.Event
    close_code: int | None

    def take(self) -> str | None:
        """The next text to send, or None when nothing waits."""
        ...


async def pump(
    websocket: WebSocket,
    outbox: Outbox,
    *,
    close_reason: str,
    sent: Callable[[], None] = lambda: None,
) -> None:
    """Run the socket until the client leaves or the outbox asks to close it.

    ``sent`` is called after each text goes out (metrics).
    """
    writer = asyncio.create_task(_write(websocket, outbox, close_reason, sent))
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    except WebSocketDisconnect:
        pass
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer


async def _write(
    websocket: WebSocket, outbox: Outbox, close_reason: str, sent: Callable[[], None]
) -> None:
    while True:
        await outbox.wakeup.wait()
        outbox.wakeup.clear()
        if outbox.close_code is not None:
            await websocket.close(code=outbox.close_code, reason=close_reason)
            return
        while (text := outbox.take()) is not None:
            await websocket.send_text(text)
            sent()
            if outbox.close_code is not None:
                outbox.wakeup.set()
                break
