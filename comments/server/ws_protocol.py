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

What a peer sends cannot make the server hold unbounded memory. uvicorn answers every
ping at once, whether or not the peer reads: one that sends pings and never reads made
the transport buffer pongs without end (hundreds of MB a minute). So, here:

- while the transport's buffer is over its high-water mark (the peer is not reading what
  it was sent), the socket is not read either: its pings make no pongs;
- a socket that stays over it for ``stall_timeout_s`` is closed (1013) and its buffer
  dropped (``transport.abort``): a peer that does not read holds nothing for long;
- a peer may send ``frames_per_s`` frames a second, in bursts of ``BURST_S`` seconds'
  worth (a token bucket); beyond it the socket is closed with 1008 and the pongs it was
  owed are not written. Readers send nothing but the odd pong, so this is generous.

Protocol errors from peers (a bad frame, invalid UTF-8) and refused handshakes are the
peer's doing, not the server's: they are logged at INFO, without a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State

from comments.live.frames import RAW_FRAMES

log = logging.getLogger("comments.ws")

DEFAULT_STALL_TIMEOUT_S = 20.0
DEFAULT_FRAMES_PER_S = 10.0
#: The token bucket holds this many seconds' worth of frames.
BURST_S = 5.0
#: After the server's close frame on a socket that still reads, the peer has this long to
#: close its end before the connection is dropped.
CLOSE_GRACE_S = 5.0


def websocket_protocol(
    stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S, frames_per_s: float = DEFAULT_FRAMES_PER_S
) -> type[CommentsWebSocketProtocol]:
    """The protocol class to give uvicorn (``ws=``), with these limits (0: none)."""

    class Configured(CommentsWebSocketProtocol):
        pass

    Configured.stall_timeout_s = stall_timeout_s
    Configured.frames_per_s = frames_per_s
    return Configured


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
    stall_timeout_s = DEFAULT_STALL_TIMEOUT_S
    frames_per_s = DEFAULT_FRAMES_PER_S

    # Class-level defaults: a socket gets instance attributes only once it needs them.
    _stall_timer: asyncio.TimerHandle | None = None
    _grace_timer: asyncio.TimerHandle | None = None
    _tokens = 0.0
    _tokens_at = -1.0  # loop time of the last frame counted; < 0: none yet (bucket full)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]

    # -- what the peer sends ------------------------------------------------------------

    def handle_events(self) -> None:
        events = self.conn.events_received()
        if self.frames_per_s > 0 and not self._frames_allowed(len(events)):
            self.conn.data_to_send()  # the pongs websockets queued for this flood: dropped
            self._close_now(1008, "too many frames")
            return
        # uvicorn's dispatch, over the events already taken.
        for event in events:
            if isinstance(event, Request):
                self.handle_connect(event)
            elif isinstance(event, Frame):
                opcode = event.opcode
                if opcode is Opcode.PING:
                    self.handle_ping()
                elif opcode is Opcode.PONG:
                    self.handle_pong(event)
                elif opcode is Opcode.TEXT:
                    self.handle_text(event)
                elif opcode is Opcode.BINARY:
                    self.handle_bytes(event)
                elif opcode is Opcode.CONT:
                    self.handle_cont(event)
                elif opcode is Opcode.CLOSE:
                    self.handle_close(event)
            if self.transport.is_closing():
                return  # closed meanwhile: the rest would be written nowhere

    def _frames_allowed(self, count: int) -> bool:
        """Take ``count`` tokens from the socket's bucket; False when it runs dry."""
        now = self.loop.time()
        burst = self.frames_per_s * BURST_S
        if self._tokens_at < 0:
            tokens = burst
        else:
            tokens = min(burst, self._tokens + (now - self._tokens_at) * self.frames_per_s)
        self._tokens = tokens - count
        self._tokens_at = now
        return self._tokens >= 0

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:  # uvicorn logs this with a traceback, at ERROR
                self.frames = []
                self._close_now(1007, "invalid UTF-8")
                return
        super().send_receive_event_to_app()

    def handle_parser_exception(self) -> None:
        if self.close_sent:  # data after the failure: websockets discards it
            return
        exc = self.conn.parser_exc
        close = self.conn.close_sent
        code = close.code if close is not None else 1002
        self._log_close(code, str(exc) or type(exc).__name__)
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code})
        self._write_close_and_end()

    # -- flow control -------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        # The peer is not reading what it was sent: read nothing from it either, so
        # nothing it sends (a ping) makes the server write more.
        self.transport.pause_reading()
        if self.stall_timeout_s > 0 and self._stall_timer is None:
            self._stall_timer = self.loop.call_later(self.stall_timeout_s, self._stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel(self._stall_timer)
        self._stall_timer = None
        if not self.read_paused:  # else paused for the app, which resumes it
            self.transport.resume_reading()

    def _keep_paused(self) -> None:
        # uvicorn resumes reading for its own reasons (the app took a message, or
        # closed): not while the peer is not reading.
        if not self.writable.is_set():
            self.transport.pause_reading()

    async def receive(self) -> Any:
        message = await super().receive()
        self._keep_paused()
        return message

    def _stalled(self) -> None:
        self._stall_timer = None
        self._close_now(1013, "not reading")

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel(self._stall_timer)
        self._cancel(self._grace_timer)
        self._stall_timer = self._grace_timer = None
        super().connection_lost(exc)

    # -- closing ------------------------------------------------------------------------

    def _close_now(self, code: int, reason: str) -> None:
        """End the socket for something the peer did: a close frame if it is open, then
        the connection; at once, buffer dropped, when the peer is not reading."""
        if self.disconnected:
            return
        self._log_close(code, reason)
        if not self.close_sent and self.conn.state is State.OPEN:
            self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
            self.conn.fail(code, reason)  # a close frame; what follows is discarded
        self._write_close_and_end()

    def _write_close_and_end(self) -> None:
        self.close_sent = True
        data = b"".join(self.conn.data_to_send())
        if data:
            self.transport.write(data)
        if not self.writable.is_set():
            # Over the high-water mark: the peer is not reading, and a graceful close
            # would keep the buffer until it does.
            self.transport.abort()
            return
        # Half-close: the close frame, then EOF, reach the peer even while it is still
        # sending (a full close with unread input resets the connection, and the close
        # frame may be lost); what it sends meanwhile is read and dropped.
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.transport.resume_reading()
            if self._grace_timer is None:
                self._grace_timer = self.loop.call_later(CLOSE_GRACE_S, self.transport.abort)
        else:
            self.transport.close()

    def _log_close(self, code: int, reason: str) -> None:
        client = "%s:%d" % self.client if self.client else "?"  # noqa: UP031 - uvicorn's form
        log.info("closing socket from %s: %s (%d)", client, reason, code)

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()

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
        try:
            await super().send(message)
        finally:
            self._keep_paused()
        kind = message["type"]
        if kind == "websocket.http.response.body" and self.close_sent:
            # A refused handshake (403, 429…) is answered: the handshake is over, and
            # uvicorn would otherwise log "returned without completing handshake" at ERROR.
            self.handshake_complete = True
        if kind == "websocket.accept" and self.handshake_complete:
            # Used only to answer the handshake, which is done.
            self.__dict__.pop("response", None)
            # The app reads the headers (origin, address) before it accepts; an idle socket
            # need not keep them: a browser's, cookies included, run to kilobytes.
            headers = self.scope["headers"]
            if isinstance(headers, list):  # uvicorn's; cleared in place, for every holder
                headers.clear()
            if self.conn.extensions:
                # permessage-deflate transforms every frame: no frame built for all
                # sockets fits this one, so the app need not build any for it.
                self.scope["extensions"].pop(RAW_FRAMES, None)
