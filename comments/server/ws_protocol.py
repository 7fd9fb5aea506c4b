"""The WebSocket protocol `comments serve` runs: uvicorn's sans-I/O one, plus a way to
write a frame that was built once for many sockets.

Through ASGI, every message to every socket is framed anew (websockets' ``send_text``)
and goes through three coroutines (Starlette's ``send``, uvicorn's ``send``, its
``writable`` wait). A fan-out sends the same text to thousands of sockets, and a server
frame is the same bytes for every client (it is not masked), so the hub builds it once
and each socket's writer hands the bytes straight to the transport: the scope's
``extensions`` carry a ``RAW_FRAMES`` callable for that. It refuses (returns False)
whenever the plain ASGI send must decide instead: before the handshake, after a close,
while the transport's buffer is full (the ASGI send waits for room), and when an
extension such as permessage-deflate would transform the frame.

An idle socket's memory is what limits how many sockets a node holds, so the protocol
is also made lighter: uvicorn's inbound ``asyncio.Queue`` (four deques and an Event, some
3 kB) and its ``writable`` Event become the small classes below, which do the little
uvicorn asks of them; and what the handshake leaves behind is let go once it is sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from comments.live.frames import RAW_FRAMES


class Inbox:
    """What uvicorn uses of its ``asyncio.Queue``: ``put_nowait``, ``get`` and ``empty``,
    for the one task that reads (the app's ``receive``)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items


class Flag:
    """What uvicorn uses of its ``writable`` ``asyncio.Event``, without the deque an
    Event keeps for waiters it nearly never has."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        if self._set:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class CommentsWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][RAW_FRAMES] = self.write_frame
            # The scope has its own copy of the headers, and the response is made: the
            # parser's frame keeps the request alive for the connection's life, so only
            # emptying it gives its two kilobytes back.
            event.headers.clear()

    def write_frame(self, frame: bytes) -> bool:
        """Write a whole frame now, if nothing stands in the way; else False."""
        if (
            self.close_sent
            or self.disconnected
            or not self.handshake_complete
            or self.initial_response is not None
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
            or self.conn.extensions
        ):
            return False
        try:
            self.transport.write(frame)
        except Exception:  # a transport closed under us: let the ASGI send report it
            return False
        return True

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # Used only to answer the handshake, which is done.
            self.__dict__.pop("response", None)
            if self.conn.extensions:
                # permessage-deflate transforms every frame: no frame built for all
                # sockets fits this one, so the app need not build any for it.
                self.scope["extensions"].pop(RAW_FRAMES, None)
