"""The one loop both kinds of socket run: send what waits, close when told, until the
client leaves (readers have nothing to say; reading only notices the close).

Sends go out eagerly: an outbox that can call back (a hub subscriber) has what it queues
written inside the call that queued it, the way ``websockets.broadcast()`` writes, as
long as the socket takes it without waiting. Only a send that must wait (the client's
write buffer is full) gets a task, which finishes it and drains the rest. A fan-out to
thousands of sockets thus costs no task switch per message per socket. Where the server
offers it (``comments serve``'s protocol, :mod:`comments.server.ws_protocol`), the frame is
written straight to the transport, and an outbox with a ``wire`` attribute (a hub
subscriber) hands over the frame its channel built once for every socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect

from comments.live.frames import RAW_FRAMES, RawFrames, text_frame


class Outbox(Protocol):
    """What a socket's writer drains: a hub subscriber, or a moderation feed one.

    An outbox may also have a ``listener`` attribute (``Callable[[], None] | None``): the
    pump sets it, and the outbox then calls it instead of setting ``wakeup`` whenever it
    has queued something or set ``close_code``; a ``wire`` attribute (``bytes | None``):
    the frame carrying the text ``take`` returned last, when the outbox built it already;
    and a ``direct`` attribute (``Callable[[bytes], bool] | None``): the pump sets it while
    nothing waits and no send is under way, so the outbox may write a frame itself (it
    returns False when it cannot, and the outbox then queues as usual).
    """

    close_code: int | None

    @property
    def wakeup(self) -> asyncio.Event:
        """Set when something was queued (for an outbox without ``listener``)."""
        ...

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
    writer = _Writer(websocket, outbox, close_reason, sent)
    calls_back = hasattr(outbox, "listener")
    waker: asyncio.Task[None] | None = None
    if calls_back:
        outbox.listener = writer.poke  # type: ignore[attr-defined]
    else:
        waker = asyncio.create_task(_wake_on_event(outbox, writer))
    writer.poke()  # whatever was queued before the pump started (a replay)
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    except WebSocketDisconnect:
        pass
    finally:
        writer.allow_direct(False)
        if calls_back:
            outbox.listener = None  # type: ignore[attr-defined]
        for task in (waker, writer.task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def _wake_on_event(outbox: Outbox, writer: _Writer) -> None:
    while True:
        await outbox.wakeup.wait()
        outbox.wakeup.clear()
        writer.poke()


class _Writer:
    """Sends an outbox's texts, in order, one send at a time."""

    __slots__ = (
        "can_direct",
        "close_reason",
        "has_wire",
        "outbox",
        "raw",
        "sent",
        "stopped",
        "task",
        "websocket",
    )

    def __init__(
        self, websocket: WebSocket, outbox: Outbox, close_reason: str, sent: Callable[[], None]
    ) -> None:
        self.websocket = websocket
        self.outbox = outbox
        self.close_reason = close_reason
        self.sent = sent
        # Finishing a send (or the close) that had to wait; None while the writer is idle.
        self.task: asyncio.Task[None] | None = None
        self.stopped = False
        self.raw: RawFrames | None = websocket.scope.get("extensions", {}).get(RAW_FRAMES)
        self.has_wire = hasattr(outbox, "wire")
        self.can_direct = self.raw is not None and hasattr(outbox, "direct")

    def allow_direct(self, allowed: bool) -> None:
        """Let the outbox write frames itself, or stop it: only while this writer is idle,
        or a frame it writes could overtake one this writer has under way."""
        if self.can_direct:
            self.outbox.direct = self.raw if allowed else None  # type: ignore[attr-defined]

    def poke(self) -> None:
        """Something was queued: send it now unless a send is already under way."""
        if self.task is None and not self.stopped:
            self._drain()

    def _drain(self) -> None:
        try:
            while not self.stopped:
                if self.outbox.close_code is not None:
                    self.stopped = True
                    self.allow_direct(False)
                    self.task = asyncio.ensure_future(
                        self.websocket.close(
                            code=self.outbox.close_code,
                            # An outbox may say why it closes (a revoked moderator).
                            reason=getattr(self.outbox, "close_reason", None) or self.close_reason,
                        )
                    )
                    return
                text = self.outbox.take()
                if text is None:
                    self.allow_direct(True)
                    return
                if self.raw is not None:
                    wire = self.outbox.wire if self.has_wire else None  # type: ignore[attr-defined]
                    if self.raw(wire or text_frame(text.encode())):
                        self.sent()
                        continue
                rest = send_eagerly(self.websocket.send_text(text))
                self.sent()
                if rest is not None:
                    self.allow_direct(False)
                    self.task = asyncio.ensure_future(self._finish(rest))
                    return
        except Exception:
            # The client is gone mid-send: the pump's reader sees the disconnect and ends.
            # Raising here would break the fan-out loop that called us for other sockets.
            self.stopped = True
            self.allow_direct(False)

    async def _finish(self, rest: Coroutine[Any, Any, None]) -> None:
        try:
            await rest
        except Exception:
            self.stopped = True
            return
        self.task = None
        self._drain()


def send_eagerly(send: Coroutine[Any, Any, None]) -> Coroutine[Any, Any, None] | None:
    """Run the coroutine ``send`` up to its first wait; None if it finished without one.

    A send to a writable socket never waits (the ASGI server writes the frame to its
    transport at once), so the usual case costs no task. Otherwise the rest is returned,
    to be awaited.

    Raises:
        Exception: whatever ``send`` raised before its first wait.
    """
    try:
        waiting_on = send.send(None)
    except StopIteration:
        return None
    return _resume(send, waiting_on)


async def _resume(send: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    # What `await` would have done from the start (as `yield from` delegates): wait on
    # what the coroutine yielded, hand it the outcome, repeat until it returns.
    try:
        while True:
            try:
                if waiting_on is None:  # a bare yield, as asyncio.sleep(0) makes
                    await asyncio.sleep(0)
                else:
                    # A future that was yielded is flagged as awaited: a task clears the
                    # flag before it waits on it, and so must we.
                    waiting_on._asyncio_future_blocking = False
                    await waiting_on
            except BaseException as exc:
                waiting_on = send.throw(exc)
            else:
                waiting_on = send.send(None)
    except StopIteration:
        return
