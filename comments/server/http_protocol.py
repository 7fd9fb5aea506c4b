"""The HTTP protocol `comments serve` runs: uvicorn's httptools protocol with bounds on
reading each request, which uvicorn does not have.

uvicorn times out a connection only between requests (``timeout_keep_alive``): a client
that opens a connection and sends nothing, or sends a request's head or body a few bytes
at a time, holds its connection (and a buffer) for as long as it likes. And httptools
caps neither the head's size nor its cost: one header value sent in small pieces is
re-joined on every piece, so a few megabytes of it block the event loop for seconds.

So every request must arrive whole, head and body, within ``request_timeout_s`` of its
first byte (a new connection's clock starts when it opens), else it is answered 408 and
the connection closed; and a head over ``MAX_HEAD_BYTES`` is answered 431, whether it
comes in one read or many. The raw bytes are checked before the parser sees them: a read
that would take a head past the cap must hold the head's end (the blank line) within it.
The parser's callbacks count what they are given too, for a head that starts inside a
read after another request (pipelining), which the raw count does not see. Memory per
connection stays bounded: the head by that cap, an unread body by uvicorn's flow control
(reading pauses at 64 KiB), and our endpoints read at most 64 KB of body.
"""

from __future__ import annotations

import asyncio
import json
import logging

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("comments.http")

MAX_HEAD_BYTES = 32 * 1024
DEFAULT_TIMEOUT_S = 20.0
HEAD_END = b"\r\n\r\n"  # httptools takes CRLF only (a bare LF is a 400)


class HeadTooLarge(Exception):
    """Raised from a parser callback to stop the parser; answered 431."""


def bounded_httptools(request_timeout_s: float = DEFAULT_TIMEOUT_S) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn (``http=``); 0 means no read deadline."""

    class Configured(BoundedHttpToolsProtocol):
        timeout_s = request_timeout_s

    return Configured


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    timeout_s = DEFAULT_TIMEOUT_S
    max_head_bytes = MAX_HEAD_BYTES

    _deadline: asyncio.TimerHandle | None = None
    _in_message = False  # between a request's first byte and its last
    _reading_head = True  # before the end of a request's head (or its first byte)
    _head_bytes = 0  # raw bytes read of the head so far
    _parsed_head = 0  # the head's bytes the parser's callbacks were given
    _refusing_head = False  # a head was too large: 431 once what came before is answered

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusing_head:
            return  # the parser stopped: nothing more is read
        if self._reading_head:
            room = self.max_head_bytes - self._head_bytes
            if len(data) > room and not _head_ends_within(data, room):
                self._refuse_head()
                return
            self._head_bytes += len(data)
        # uvicorn's data_received, with a 431 for a head the callbacks found too large.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, HeadTooLarge):
                self._refusing_head = True
                if self.cycle is None or (self.cycle.response_complete and not self.pipeline):
                    self._refuse_head()
                # else requests before it (pipelined) are answered first
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def on_url(self, url: bytes) -> None:
        self._parsed_head += len(url)
        if self._parsed_head > self.max_head_bytes:
            raise HeadTooLarge
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_head += len(name) + len(value) + 4  # ": " and CRLF
        if self._parsed_head > self.max_head_bytes:
            raise HeadTooLarge
        super().on_header(name, value)

    def on_response_complete(self) -> None:
        if self._refusing_head and not self.pipeline:
            self.server_state.total_requests += 1
            self._refuse_head()
            return
        super().on_response_complete()

    def _refuse_head(self) -> None:
        if not self.transport.is_closing():
            self._refuse(
                431, "headers_too_large", f"a request head is at most {self.max_head_bytes} bytes"
            )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_message = True
        self._reading_head = True
        self._parsed_head = 0
        self._arm()

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_message = False
        # What comes next is the head of the next request on this connection.
        self._reading_head = True
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes the connection over, with its own pings.
        self._disarm()
        super().handle_websocket_upgrade()

    def _arm(self) -> None:
        if self._deadline is None and self.timeout_s > 0:
            self._deadline = self.loop.call_later(self.timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if not self._in_message:  # opened, and nothing sent since
            self.transport.close()
        elif self._reading_head and (cycle is None or cycle.response_complete):
            self._refuse(408, "request_timeout", "the request did not arrive in time")
        elif not self._reading_head and cycle is not None and not cycle.response_started:
            # The app is waiting for the body: it is told the client left, so its own
            # answer is not written after this one.
            cycle.disconnected = True
            cycle.message_event.set()
            self._refuse(408, "request_timeout", "the request body did not arrive in time")
        else:
            self.transport.close()

    def _refuse(self, status: int, code: str, message: str) -> None:
        client = "%s:%d" % self.client if self.client else "?"  # noqa: UP031 - uvicorn's form
        log.info("closing connection from %s: %s (%d)", client, message, status)
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: application/json\r\n")
        head.append(b"content-length: %d\r\n" % len(body))
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def _head_ends_within(data: bytes, room: int) -> bool:
    """Whether the head being read ends in the first ``room`` bytes of ``data``.

    A blank line split across reads (the previous one ended with CRLF or CRLF CR) shows
    as ``data`` starting with the rest of it: taken as an end here, and if it was not one
    the head goes on, and is counted, in the next reads.
    """
    end = data.find(HEAD_END, 0, room)
    if end >= 0:
        return True
    return any(data.startswith(rest) and len(rest) <= room for rest in (b"\n", b"\r\n"))
