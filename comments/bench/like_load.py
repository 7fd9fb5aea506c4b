"""The reactions benchmark's load, run inside the load generator (comments.bench.loadgen):
the ``comment.reactions`` frames each socket receives, and readers liking at a rate.

Frames are found with one regular expression per read (never a JSON decode), so counting
them costs the generator little; the figures are computed here and sent back small.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any, cast

# How the node writes a like frame (comments.live.like_counts.like_frame): compact JSON.
_LIKE_FRAME = re.compile(rb'"type":"comment\.reactions","id":"[^"]*","reactions":(\d+)')


@dataclass
class LikeTally:
    """Per socket: when each like frame arrived, and the count the last one carried."""

    times: dict[int, list[float]] = field(default_factory=dict)
    last: dict[int, int] = field(default_factory=dict)

    def note(self, socket_id: int, chunk: bytes) -> None:
        found = _LIKE_FRAME.findall(chunk)
        if not found:
            return
        now = time.monotonic()
        # Several in one read arrived together: a gap of 0, as they were sent.
        self.times.setdefault(socket_id, []).extend([now] * len(found))
        self.last[socket_id] = int(found[-1])

    def report(self, sockets: int) -> dict[str, Any]:
        """What the sockets got: frames per socket, the highest rate on any socket (its
        frames after the first over the time from its first to its last), the shortest
        gap between two frames and the most frames in any one-second window on one
        socket, and how many sockets last saw each count."""
        rates, gaps, windows, counts = [], [], [], []
        for stamps in self.times.values():
            counts.append(len(stamps))
            if len(stamps) > 1:
                span = stamps[-1] - stamps[0]
                rates.append((len(stamps) - 1) / span if span > 0 else float("inf"))
                gaps.append(min(b - a for a, b in itertools.pairwise(stamps)))
            windows.append(_most_in_a_second(stamps))
        last: dict[str, int] = {}
        for count in self.last.values():
            last[str(count)] = last.get(str(count), 0) + 1
        return {
            "sockets": sockets,
            "sockets_with_frames": len(self.times),
            "frames_max": max(counts, default=0),
            "frames_min": min(counts, default=0) if len(counts) == sockets else 0,
            "frames_total": sum(counts),
            "rate_max": max(rates, default=0.0),
            "gap_min": min(gaps, default=float("nan")),
            "in_a_second_max": max(windows, default=0),
            "last": last,
        }


def _most_in_a_second(stamps: list[float]) -> int:
    most, start = 0, 0
    for end, t in enumerate(stamps):
        while t - stamps[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


class Reader(asyncio.Protocol):
    """One reader (a guest) on one keep-alive connection: one request at a time."""

    def __init__(self, head: bytes) -> None:
        self.head = head  # the request after its method, up to the blank line
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.answer: asyncio.Future[tuple[int, bytes]] | None = None
        self.reacted = False  # as the server last answered
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    async def request(self, method: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(method + self.head)
        return await self.answer

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        at = head.find(b"\r\ncontent-length:")
        line_end = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : line_end if line_end >= 0 else len(head)]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        if self.answer is not None and not self.answer.done():
            self.answer.set_result((int(head[9:12]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError(f"connection lost: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)


async def like_load(
    port: int, path: str, tokens: list[str], rate: float, seconds: float
) -> dict[str, Any]:
    """Readers (one per guest token) like and unlike ``path`` in turn, ``rate`` requests
    a second between them, paced from the start, for ``seconds``: each reader sends its
    next request once its last is answered, and none is sent after ``seconds``, so a
    server that falls behind gets fewer.

    Returns:
        answers by status, the time taken, the readers liking at the end (as the server
        answered them), and the requests' latencies' median and 99th percentile (ms).
    """
    loop = asyncio.get_running_loop()
    readers = []
    for token in tokens:
        head = (
            f" {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nX-Comments-Guest: {token}\r\n"
            "Content-Length: 2\r\n\r\n{}"
        ).encode()
        reader = Reader(head)
        await loop.create_connection(lambda r=reader: r, "127.0.0.1", port)  # type: ignore[misc]
        readers.append(reader)
    total = max(1, round(rate * seconds))
    sent = [0]
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    started = time.monotonic()
    last_answer = started

    deadline = started + seconds

    async def run(reader: Reader) -> None:
        nonlocal last_answer
        # Bounded in count and in time: a server slower than the rate gets fewer.
        while sent[0] < total and time.monotonic() < deadline:
            slot = started + sent[0] / rate
            sent[0] += 1
            delay = slot - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            asked = time.monotonic()
            status, body = await reader.request(b"DELETE" if reader.reacted else b"PUT")
            last_answer = time.monotonic()
            latencies.append(last_answer - asked)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == 200:
                reader.reacted = b'"reacted":true' in body.replace(b" ", b"")

    try:
        await asyncio.wait_for(asyncio.gather(*(run(r) for r in readers)), seconds + 60)
    finally:
        for reader in readers:
            if reader.transport is not None:
                reader.transport.close()
    latencies.sort()
    return {
        "statuses": statuses,
        "seconds": last_answer - started,
        "liking": sum(r.reacted for r in readers),
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
    }
