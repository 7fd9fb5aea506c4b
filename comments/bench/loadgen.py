"""The fan-out benchmark's load generator: thousands of WebSocket readers in one process.

Run as its own process (``python -m comments.bench.loadgen``) so its CPU time is
measured apart from the server's. The benchmark drives it with one JSON object per line
on stdin; it answers each with one JSON object per line on stdout:

- ``{"cmd": "open", "port": P, "paths": [...]}`` opens a socket on 127.0.0.1:P for each
  path (several at once) → ``{"open": n, "failed": n, "errors": {text: n}}``.
- ``{"cmd": "expect", "tag": T, "count": N, "latency": bool}`` starts counting the
  messages tagged T (sent before the messages are) → ``{"ok": true}``.
- ``{"cmd": "wait", "timeout": S}`` waits until N messages tagged T have arrived, or S
  seconds → ``{"count", "first", "last", "hist"}``: receipt times (``time.monotonic``,
  one clock for every process on Linux) and, if asked, post-to-receipt latencies as
  ``[[tenths of a ms, messages], ...]``.
- ``{"cmd": "status"}`` → ``{"open": n, "closes": {code: n}}``.
- ``{"cmd": "http", "port": P, "path": "/x", "connections": C, "seconds": S}`` sends
  GETs over C keep-alive connections, one at a time on each, for S seconds →
  ``{"requests": n, "errors": n, "seconds": s}``.
- ``{"cmd": "likes-watch"}`` starts noting the ``comment.reactions`` frames each socket
  receives; ``{"cmd": "likes-report"}`` → what they got (comments.bench.like_load).
- ``{"cmd": "like", "port": P, "path": "/x/reaction", "tokens": [...], "rate": R,
  "seconds": S}``: one reader per guest token likes and unlikes in turn, R a second
  between them, for S seconds → ``{"statuses", "seconds", "liking", "p50_ms", "p99_ms"}``.
- ``{"cmd": "close", "keep": K}`` closes every socket but the first K opened (by path
  order, over all ``open`` commands) → ``{"closed": n}``; ``{"cmd": "quit"}`` exits.

The client is minimal on purpose, so the generator is not what limits the figures: it
does the opening handshake, answers pings, and never decodes JSON. It counts messages by
their marker, ``~T<tag>:<send time>~``, which the sender writes into the comment text
(once per message, so a ``batch`` frame of k comments counts as k messages), with one
``bytes.count`` per read; latencies are read from the kept frames after the phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import time
from collections.abc import Iterable
from typing import Any, cast

from comments.bench.like_load import LikeTally, like_load

_MARKER = re.compile(rb"~T(\d+):(\d+\.\d+)~")
_HANDSHAKE_TIMEOUT_S = 30.0
_OPENING_AT_ONCE = 100
# Client frames must be masked; a zero mask is a valid mask that leaves the bytes as they are.
_ZERO_MASK = b"\0\0\0\0"


def marker(tag: int, sent: float) -> str:
    """The text that lets the generator count a message and time it (``sent``: monotonic)."""
    return f"~T{tag}:{sent:.6f}~"


def percentile(hist: Iterable[tuple[int, int]], fraction: float) -> float:
    """The ``fraction`` quantile, in ms, of a ``[[tenths of a ms, count], ...]`` histogram."""
    pairs = sorted(hist)
    total = sum(n for _, n in pairs)
    if total == 0:
        return float("nan")
    rank = fraction * total
    seen = 0
    for bucket, n in pairs:
        seen += n
        if seen >= rank:
            return (bucket + 0.5) / 10
    return (pairs[-1][0] + 0.5) / 10


class Phase:
    """The messages of one tag being counted: how many, when, and (if asked) how late."""

    def __init__(self, tag: int, wanted: int, latency: bool) -> None:
        self.tag = tag
        self.pattern = b"~T%d:" % tag
        self.wanted = wanted
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        # Frames kept as received, timed, and read for latencies only once the phase is
        # over, so that reading them does not compete with the server meanwhile.
        self.frames: list[tuple[float, bytes]] | None = [] if latency else None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def histogram(self) -> list[tuple[int, int]]:
        hist: dict[int, int] = {}
        tag = str(self.tag).encode()
        for now, chunk in self.frames or ():
            for found, sent in _MARKER.findall(chunk):
                if found == tag:
                    bucket = int((now - float(sent)) * 10_000)
                    hist[bucket] = hist.get(bucket, 0) + 1
        return sorted(hist.items())


class LoadGen:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.open = 0
        self.closes: dict[int, int] = {}
        self.clients: list[WsClient | None] = []  # by path, over every ``open``
        self.phase = Phase(0, 0, latency=False)
        self.likes: LikeTally | None = None  # noting like frames, when asked to

    def seen(self, chunk: bytes) -> None:
        """Count the messages of the current phase in complete frames just received."""
        phase = self.phase
        found = chunk.count(phase.pattern)
        if not found:
            return
        now = time.monotonic()
        if not phase.count:
            phase.first = now
        phase.count += found
        phase.last = now
        if phase.frames is not None:
            phase.frames.append((now, chunk))
        if phase.count >= phase.wanted and not phase.done.done():
            phase.done.set_result(None)

    async def open_sockets(self, port: int, paths: list[str]) -> dict[str, Any]:
        errors: dict[str, int] = {}
        gate = asyncio.Semaphore(_OPENING_AT_ONCE)

        base = len(self.clients)
        self.clients.extend([None] * len(paths))

        async def one(index: int, path: str) -> None:
            async with gate:
                request = (
                    f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
                client = WsClient(self, request)
                try:
                    await self.loop.create_connection(lambda: client, "127.0.0.1", port)
                    error = await asyncio.wait_for(client.handshake, _HANDSHAKE_TIMEOUT_S)
                except (OSError, TimeoutError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    if client.transport is not None:
                        client.transport.abort()
                if error:
                    errors[error] = errors.get(error, 0) + 1
                else:
                    self.clients[base + index] = client

        await asyncio.gather(*(one(i, p) for i, p in enumerate(paths)))
        return {"open": self.open, "failed": sum(errors.values()), "errors": errors}

    def expect(self, tag: int, count: int, latency: bool) -> None:
        self.phase = Phase(tag, count, latency)

    async def wait(self, timeout: float) -> dict[str, Any]:
        phase = self.phase
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(phase.done), timeout)
        return {
            "count": phase.count,
            "first": phase.first,
            "last": phase.last,
            "hist": phase.histogram(),
        }

    def close(self, keep: int = 0) -> int:
        closed = 0
        for client in self.clients[keep:]:
            if client is not None and client.is_open:
                client.close()
                closed += 1
        del self.clients[keep:]
        return closed


class WsClient(asyncio.Protocol):
    """One reader: handshake, then frames, counted by marker and otherwise ignored."""

    def __init__(self, gen: LoadGen, request: bytes) -> None:
        self.gen = gen
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.is_open = False
        # "" once open, else why not.
        self.handshake: asyncio.Future[str] = gen.loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.buffer:
            data = self.buffer + data
            self.buffer = b""
        if not self.is_open:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = data
                return
            status = data[: data.find(b"\r\n")]
            if not status.startswith(b"HTTP/1.1 101"):
                self._fail(f"handshake refused: {status.decode(errors='replace')}")
                return
            self.is_open = True
            self.gen.open += 1
            self.handshake.set_result("")
            data = data[end + 4 :]
        self.buffer = self._frames(data)

    def _frames(self, data: bytes) -> bytes:
        """Walk the complete frames in ``data``; return what is left of an incomplete one."""
        pos = 0
        size = len(data)
        while size - pos >= 2:
            length = data[pos + 1] & 0x7F  # server frames are never masked
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + length
            if end > size:
                break
            opcode = data[pos] & 0x0F
            if opcode >= 8:
                self._control(opcode, data[pos + head : end])
            pos = end
        if pos:
            # Markers are only in text, and never straddle a frame: scan every whole frame.
            chunk = data if pos == size else data[:pos]
            self.gen.seen(chunk)
            if self.gen.likes is not None:
                self.gen.likes.note(id(self), chunk)
        return data[pos:]

    def _control(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        if opcode == 9:  # ping: pong with the same payload
            self.transport.write(bytes((0x8A, 0x80 | len(payload))) + _ZERO_MASK + payload)
        elif opcode == 8:  # close: answer, count the code, hang up
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.gen.closes[code] = self.gen.closes.get(code, 0) + 1
            self.close(payload[:2])

    def close(self, code: bytes = b"\x03\xe8") -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(bytes((0x88, 0x80 | len(code))) + _ZERO_MASK + code)
            self.transport.close()

    def _fail(self, reason: str) -> None:
        if not self.handshake.done():
            self.handshake.set_result(reason)
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.is_open:
            self.is_open = False
            self.gen.open -= 1
        elif not self.handshake.done():
            self.handshake.set_result(f"connection lost during the handshake: {exc}")


class HttpClient(asyncio.Protocol):
    """GETs one path over and over on one keep-alive connection until ``deadline``."""

    def __init__(self, request: bytes, deadline: float, done: asyncio.Future[None]) -> None:
        self.request = request
        self.deadline = deadline
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.requests = 0
        self.errors = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            at = head.find(b"\r\ncontent-length:")
            if at < 0:  # no length: cannot find the end of the body
                self.errors += 1
                self.transport.close()
                return
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
            if len(self.buffer) < end + 4 + length:
                return
            if head.startswith(b"http/1.1 200"):
                self.requests += 1
            else:
                self.errors += 1
            self.buffer = self.buffer[end + 4 + length :]
            if time.monotonic() >= self.deadline:
                self.transport.close()
                return
            self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


class PostClient(asyncio.Protocol):
    """POSTs JSON bodies on one keep-alive connection, one at a time, each body made from
    ``template`` with ``{n}`` replaced by a number no other request used, until ``total``
    requests were sent by all clients or ``deadline``. Counts answers by status code."""

    def __init__(
        self,
        head: bytes,
        template: str,
        counter: list[int],
        total: int,
        deadline: float,
        done: asyncio.Future[None],
    ) -> None:
        self.head = head
        self.template = template
        self.counter = counter
        self.total = total
        self.deadline = deadline
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.statuses: dict[str, int] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if self.counter[0] >= self.total or time.monotonic() >= self.deadline:
            self.transport.close()
            return
        self.counter[0] += 1
        body = self.template.replace("{n}", str(self.counter[0])).encode()
        self.transport.write(self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            at = head.find(b"\r\ncontent-length:")
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end >= 0 else len(head)]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            status = head[9:12].decode()
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.buffer = self.buffer[end + 4 + length :]
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def post_load(
    port: int,
    path: str,
    headers: dict[str, str],
    template: str,
    connections: int,
    total: int,
    seconds: float,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    head = ("\r\n".join(lines) + "\r\n").encode()
    counter = [0]
    started = time.monotonic()
    deadline = started + seconds
    clients: list[PostClient] = []
    for _ in range(connections):
        client = PostClient(head, template, counter, total, deadline, loop.create_future())
        await loop.create_connection(lambda c=client: c, "127.0.0.1", port)  # type: ignore[misc]
        clients.append(client)
    await asyncio.wait_for(asyncio.gather(*(c.done for c in clients)), seconds + 30)
    statuses: dict[str, int] = {}
    for c in clients:
        for status, n in c.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    return {"statuses": statuses, "seconds": time.monotonic() - started}


async def http_load(port: int, path: str, connections: int, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    started = time.monotonic()
    deadline = started + seconds
    clients: list[HttpClient] = []
    for _ in range(connections):
        client = HttpClient(request, deadline, loop.create_future())
        await loop.create_connection(lambda c=client: c, "127.0.0.1", port)  # type: ignore[misc]
        clients.append(client)
    await asyncio.wait_for(asyncio.gather(*(c.done for c in clients)), seconds + 30)
    return {
        "requests": sum(c.requests for c in clients),
        "errors": sum(c.errors for c in clients),
        "seconds": time.monotonic() - started,
    }


async def serve_commands() -> None:
    gen = LoadGen()
    reader = asyncio.StreamReader(limit=1 << 26)
    await gen.loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command: dict[str, Any] = json.loads(line)
        name = command["cmd"]
        reply: dict[str, Any]
        if name == "open":
            reply = await gen.open_sockets(int(command["port"]), list(command["paths"]))
        elif name == "expect":
            gen.expect(int(command["tag"]), int(command["count"]), bool(command["latency"]))
            reply = {"ok": True}
        elif name == "wait":
            reply = await gen.wait(float(command["timeout"]))
        elif name == "status":
            reply = {"open": gen.open, "closes": gen.closes}
        elif name == "http":
            reply = await http_load(
                int(command["port"]),
                str(command["path"]),
                int(command["connections"]),
                float(command["seconds"]),
            )
        elif name == "post":
            reply = await post_load(
                int(command["port"]),
                str(command["path"]),
                dict(command["headers"]),
                str(command["template"]),
                int(command["connections"]),
                int(command["total"]),
                float(command["seconds"]),
            )
        elif name == "likes-watch":
            gen.likes = LikeTally()
            reply = {"ok": True}
        elif name == "likes-report":
            reply = (gen.likes or LikeTally()).report(gen.open)
        elif name == "like":
            reply = await like_load(
                int(command["port"]),
                str(command["path"]),
                list(command["tokens"]),
                float(command["rate"]),
                float(command["seconds"]),
            )
        elif name == "close":
            reply = {"closed": gen.close(int(command.get("keep", 0)))}
        elif name == "quit":
            gen.close()
            return
        else:
            reply = {"error": f"unknown command {name!r}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def main() -> None:
    from comments.server.rlimit import raise_open_files_limit

    raise_open_files_limit()
    try:
        import uvloop
    except ImportError:  # the plain loop is slower, not wrong
        asyncio.run(serve_commands())
    else:
        uvloop.run(serve_commands())


if __name__ == "__main__":
    main()
