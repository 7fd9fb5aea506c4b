"""A bounded flood against one node, run as its own process by test_flood.py.

Posts are offered at a fixed rate over keep-alive connections from pre-built requests
(each connection waits for its answer before taking the next due post, so a node slower
than the offered rate is driven at its limit and the generator falls behind instead of
piling up requests without bound), and WebSocket handshakes are attempted at a fixed
rate from raw sockets, half of them kept open a while. Raw asyncio (uvloop) streams,
because an HTTP client library would spend more CPU than the node it floods on a 2-core
machine. Both loops are bounded in count and time; at the end the process prints what it
achieved as one JSON object.

    python tests/faults/flood.py --port P --site news --article flood --seconds 60 \
        --posts-per-s 1000 --attempts 10000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

# Past the window, what is still in flight (and attempts still due) gets this long.
DRAIN_S = 20.0
# Handshakes in flight at once (a slow server must not make the generator unbounded).
MAX_HANDSHAKES_IN_FLIGHT = 500
BODY_VARIANTS = 1000


@dataclass
class Stats:
    posts_offered: int = 0
    posts_sent: int = 0
    posts_answered: int = 0
    posts_answered_in_window: int = 0
    post_status: Counter[int] = field(default_factory=Counter)
    post_errors: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    handshake_status: Counter[int] = field(default_factory=Counter)
    handshake_errors: Counter[str] = field(default_factory=Counter)
    held_max: int = 0

    def to_json(self, elapsed: float, window_s: float) -> dict[str, Any]:
        return {
            "elapsed_s": round(elapsed, 2),
            "cpu_s": round(time.process_time(), 2),
            "posts": {
                "offered": self.posts_offered,
                "sent": self.posts_sent,
                "answered": self.posts_answered,
                # Answers received within the flood's window, per second of it.
                "per_s": round(self.posts_answered_in_window / window_s, 1),
                "status": {str(k): v for k, v in sorted(self.post_status.items())},
                "errors": dict(self.post_errors),
            },
            "connections": {
                "attempts": self.attempts,
                "status": {str(k): v for k, v in sorted(self.handshake_status.items())},
                "errors": dict(self.handshake_errors),
                "held_max": self.held_max,
            },
        }


def post_requests(host: str, port: int, site: str, article: str) -> list[bytes]:
    """Pre-built guest posts (different texts, so they are not one repeated string)."""
    path = f"/api/v1/sites/{site}/articles/{article}/comments"
    built = []
    for i in range(BODY_VARIANTS):
        body = json.dumps({"body": f"flood comment number {i}", "author_name": f"F{i}"}).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        built.append(head.encode() + body)
    return built


def handshake_request(host: str, port: int, site: str, article: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws/v1/sites/{site}/articles/{article} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP response (head and Content-Length body); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


class Flood:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stats = Stats()
        self.posts = post_requests(args.host, args.port, args.site, args.article)
        self.handshake = handshake_request(args.host, args.port, args.site, args.article)
        self.start = 0.0
        self.end = 0.0
        self.next_post = 0
        self.total_posts = int(args.posts_per_s * args.seconds)
        self.held: deque[asyncio.StreamWriter] = deque()

    async def run(self) -> dict[str, Any]:
        self.start = time.monotonic()
        self.end = self.start + self.args.seconds
        self.stats.posts_offered = self.total_posts
        tasks = [asyncio.create_task(self.poster()) for _ in range(self.args.connections)]
        tasks.append(asyncio.create_task(self.connector()))
        try:
            async with asyncio.timeout(self.args.seconds + DRAIN_S):
                await asyncio.gather(*tasks)
        except TimeoutError:
            self.stats.post_errors["unfinished at the deadline"] += 1
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for writer in self.held:
                writer.transport.abort()
        return self.stats.to_json(time.monotonic() - self.start, self.args.seconds)

    def _due(self, index: int, total: int) -> float:
        return self.start + index * self.args.seconds / total

    async def poster(self) -> None:
        """One keep-alive connection taking the next due post, one at a time, until the
        window closes (posts still due then are not sent: the node was at its limit)."""
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while self.next_post < self.total_posts and time.monotonic() < self.end:
            index = self.next_post
            self.next_post += 1
            delay = self._due(index, self.total_posts) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection(
                        self.args.host, self.args.port, local_addr=(self.args.source, 0)
                    )
                writer.write(self.posts[index % len(self.posts)])
                self.stats.posts_sent += 1
                status = await read_response(reader)
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ValueError,
                IndexError,
            ) as exc:
                self.stats.post_errors[type(exc).__name__] += 1
                if writer is not None:
                    writer.transport.abort()
                reader = writer = None
                continue
            self.stats.posts_answered += 1
            if time.monotonic() <= self.end:
                self.stats.posts_answered_in_window += 1
            self.stats.post_status[status] += 1
        if writer is not None:
            writer.close()

    async def connector(self) -> None:
        """Start every connection attempt at its due time, at most a few hundred at once."""
        gate = asyncio.Semaphore(MAX_HANDSHAKES_IN_FLIGHT)
        pending: set[asyncio.Task[None]] = set()
        for index in range(self.args.attempts):
            delay = self._due(index, self.args.attempts) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await gate.acquire()
            task = asyncio.create_task(self.attempt(index))
            task.add_done_callback(lambda _t: gate.release())
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)

    async def attempt(self, index: int) -> None:
        """A WebSocket handshake; every other accepted socket is kept open (the oldest
        closed beyond --hold), the rest are dropped at once without a close frame."""
        self.stats.attempts += 1
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_connection(
                self.args.host, self.args.port, local_addr=(self.args.source, 0)
            )
            writer.write(self.handshake)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
            IndexError,
        ) as exc:
            self.stats.handshake_errors[type(exc).__name__] += 1
            if writer is not None:
                writer.transport.abort()
            return
        self.stats.handshake_status[status] += 1
        if status == 101 and index % 2 == 0:
            self.held.append(writer)
            self.stats.held_max = max(self.stats.held_max, len(self.held))
            while len(self.held) > self.args.hold:
                self.held.popleft().transport.abort()
        else:
            writer.transport.abort()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--source", default="127.0.0.1", help="local address to send from")
    parser.add_argument("--site", default="news")
    parser.add_argument("--article", default="flood")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--posts-per-s", type=float, default=1000.0)
    parser.add_argument("--connections", type=int, default=64, help="keep-alive posters")
    parser.add_argument("--attempts", type=int, default=10_000)
    parser.add_argument("--hold", type=int, default=300, help="sockets kept open at most")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # plain asyncio works too, only slower
        result = asyncio.run(Flood(args).run())
    else:
        result = uvloop.run(Flood(args).run())
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
