"""A socket's peer cannot make the server hold memory: one that floods pings and never
reads is stopped (reading pauses while its pongs wait, then it is closed), one that sends
frames faster than allowed is closed with 1008, and the server's memory comes back.

The server is a `comments serve` process, so its RSS is its own; the client is a plain
socket writing masked frames, as a hostile one would.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import select
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from comments.settings import Settings
from tests.conftest import Node, RunningServer, add_site, wait_until
from tests.security.test_abuse import rss_kib

StartNode = Callable[[dict[str, str]], Node]
StartServer = Callable[..., Awaitable[RunningServer]]
PATH = "/ws/v1/sites/news/articles/flood"
PING = 0x9
MIB = 1024 * 1024
# A flood's bounds. The server stops reading a few MiB in (the kernel's buffers), so
# they matter only to a server without the bound, where the pongs pile up as sent (the
# probe's RSS rose by 800 MB in 40 s).
FLOOD_S = 90
FLOOD_MAX = 160 * MIB


def masked(opcode: int, payload: bytes) -> bytes:
    """A final client frame (RFC 6455 §5.2): clients must mask what they send."""
    assert len(payload) < 126
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + key + body


def open_socket(port: int) -> socket.socket:
    """A raw connection through the WebSocket handshake, reading only its answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # byte by byte: nothing after the head is read
        byte = sock.recv(1)
        assert byte, f"closed during the handshake: {head!r}"
        head += byte
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


@dataclass
class Flood:
    sent: int = 0  # bytes of pings written
    reset: bool = False  # the server ended the connection while we were sending
    received: bytes = b""  # what the server had sent, read after the flood
    ended: bool = False  # the server ended the connection by the end of the reading
    close_codes: list[int] = field(default_factory=list)


def flood_pings(sock: socket.socket, seconds: float, max_bytes: int) -> Flood:
    """Send 125-byte pings as fast as the server takes them, never reading, for at most
    ``seconds`` and ``max_bytes``, or until the server ends the connection."""
    chunk = masked(PING, b"p" * 125) * 512
    flood = Flood()
    sock.setblocking(False)
    deadline = time.monotonic() + seconds
    offset = 0
    while flood.sent < max_bytes and time.monotonic() < deadline:
        _, writable, _ = select.select([], [sock], [], 0.1)
        if not writable:
            continue  # the server stopped reading: wait (bounded by the deadline)
        try:
            sent = sock.send(chunk[offset:])
        except (BrokenPipeError, ConnectionResetError):
            flood.reset = True
            break
        flood.sent += sent
        offset = (offset + sent) % len(chunk)
    return flood


def read_to_the_end(sock: socket.socket, flood: Flood, seconds: float = 10) -> None:
    """Read what the server sent until it ends the connection (for at most ``seconds``);
    note its close codes."""
    sock.setblocking(True)
    sock.settimeout(seconds)
    try:
        while data := sock.recv(MIB):
            flood.received += data
        flood.ended = True
    except (ConnectionResetError, BrokenPipeError):
        flood.ended = True
    except TimeoutError:
        pass
    sock.close()
    flood.close_codes = close_codes(flood.received)


def close_codes(data: bytes) -> list[int]:
    """The codes of the close frames in a server's (unmasked) frames."""
    codes = []
    at = 0
    while at + 2 <= len(data):
        opcode, size = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if size == 126:
            (size,) = struct.unpack_from("!H", data, at)
            at += 2
        elif size == 127:
            (size,) = struct.unpack_from("!Q", data, at)
            at += 8
        if opcode == 0x8 and size >= 2:
            codes.append(struct.unpack_from("!H", data, at)[0])
        at += size
    return codes


async def start(start_node: StartNode, sqlite_url: str, prefix: str, **env: str) -> Node:
    await add_site(sqlite_url)
    return await asyncio.to_thread(
        start_node,
        {
            "COMMENTS_DATABASE_URL": sqlite_url,
            "COMMENTS_CHANNEL_PREFIX": prefix,
            "COMMENTS_CLASSIFIER": "profanity-check",
            **env,
        },
    )


async def settled_rss(pid: int) -> int:
    """The process's RSS once it stops moving (start-up and a first socket settled)."""
    last = rss_kib(pid)
    for _ in range(20):
        await asyncio.sleep(0.25)
        now = rss_kib(pid)
        if abs(now - last) < 512:
            return now
        last = now
    return last


async def test_a_ping_flood_that_never_reads_holds_no_memory_and_is_closed(
    sqlite_url: str, channel_prefix: str, start_node: StartNode
) -> None:
    """Frames unlimited here (the rate limit is the next test's): only the flow control
    bounds the flood. Reading pauses once the pongs back up, and the socket is closed
    when they stay backed up past the stall timeout."""
    stall_s = 2
    node = await start(
        start_node,
        sqlite_url,
        channel_prefix,
        COMMENTS_WS_FRAMES_PER_S="0",
        COMMENTS_WS_STALL_TIMEOUT_S=str(stall_s),
        # No keepalive pings: their timeout (40 s) would end a flood too, later.
        COMMENTS_WS_PING_INTERVAL="0",
    )
    pid = node.proc.pid
    warm = await asyncio.to_thread(open_socket, node.port)  # the first socket's one-off costs
    before = await settled_rss(pid)
    sock = await asyncio.to_thread(open_socket, node.port)
    with contextlib.closing(warm), contextlib.closing(sock):
        await flood_and_measure(node, sock, before)
    # The node still serves sockets.
    probe = await asyncio.to_thread(open_socket, node.port)
    probe.close()
    assert node.proc.poll() is None


async def flood_and_measure(node: Node, sock: socket.socket, before: int) -> None:
    pid = node.proc.pid
    flooding = asyncio.create_task(asyncio.to_thread(flood_pings, sock, FLOOD_S, FLOOD_MAX))
    peak = before
    while not flooding.done():
        peak = max(peak, rss_kib(pid))
        await asyncio.sleep(0.05)
    flood = flooding.result()
    peak = max(peak, rss_kib(pid))
    await asyncio.to_thread(read_to_the_end, sock, flood)

    assert (peak - before) < 50 * 1024, f"RSS rose by {(peak - before) // 1024} MiB"
    assert flood.reset and flood.ended, f"still open after {flood.sent // MIB} MiB of pings"
    # Memory comes back once the socket is gone.
    await wait_until(lambda: rss_kib(pid) - before < 20 * 1024, timeout=15)


async def test_a_socket_sending_frames_too_fast_is_closed_1008(
    sqlite_url: str, channel_prefix: str, start_server: StartServer
) -> None:
    """With the default limits: a burst past the token bucket ends the socket with 1008,
    and the pongs it was owed are not written; a socket within the limit stays."""
    from comments.server.ws_protocol import BURST_S

    await add_site(sqlite_url)
    settings = Settings(
        database_url=sqlite_url, channel_prefix=channel_prefix, classifier="profanity-check"
    )
    server = await start_server(settings)
    burst = int(settings.ws_frames_per_s * BURST_S)

    calm = await asyncio.to_thread(open_socket, server.port)
    with contextlib.closing(calm):
        await burst_then_flood(server, calm, burst)


async def burst_then_flood(server: RunningServer, calm: socket.socket, burst: int) -> None:
    # A burst within the limit: every ping answered.
    calm.sendall(masked(PING, b"hello") * (burst // 2))
    expected = b"\x8a\x05hello" * (burst // 2)
    got = b""
    while len(got) < len(expected):
        got += await asyncio.to_thread(calm.recv, MIB)
    assert got == expected

    # A flood: closed with 1008, then the connection ends.
    sock = await asyncio.to_thread(open_socket, server.port)
    flood = await asyncio.to_thread(flood_pings, sock, 5, 2 * MIB)
    await asyncio.to_thread(read_to_the_end, sock, flood)
    assert flood.ended and flood.close_codes == [1008], flood.received[-200:]
    assert len(flood.received) < flood.sent // 2, "most pongs were not written"
    await wait_until(lambda: server.node.hub.sockets == 1)

    # The calm socket is still served.
    calm.sendall(masked(PING, b"again"))
    assert await asyncio.to_thread(calm.recv, MIB) == b"\x8a\x05again"
