"""The two servers the fan-out benchmark holds ours against, each a process of its own.

``python -m comments.bench.baselines websockets|broadcaster --port N --redis URL
--channel C`` serves WebSocket readers on ``/ws/v1/sites/{site}/articles/{article}`` (our
path, so the load generator treats all three alike) and relays every message published
on the Redis channel ``C:{article}`` to that article's sockets, as it comes, untouched.
Both subscribe to an article's channel when its first socket arrives, on one Redis
connection, as ours does.

- ``websockets``: a bare ``websockets`` server; ``websockets.broadcast()`` writes each
  message to every socket of the article at once (no queue, no backpressure).
- ``broadcaster``: the common Starlette design, as in encode/broadcaster and its chat
  example: a listener task puts each message on an unbounded ``asyncio.Queue`` per
  subscriber, and each socket's task awaits its queue and calls ``send_text`` per
  message. Written here rather than depending on the package; served by uvicorn with the
  options ``comments serve`` uses.

Neither stores anything, numbers events, checks order or drops slow readers: they are
what a fan-out costs without those duties.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from comments.argtypes import port

# Sockets are readers: small inbound messages only, like `comments serve`.
MAX_MESSAGE = 64 * 1024
PING_S = 20.0


def article_of(path: str) -> str:
    """``/ws/v1/sites/s/articles/a/b?x`` → ``a/b``."""
    return unquote(urlsplit(path).path.partition("/articles/")[2])


class Rooms:
    """Which article each socket watches, and the Redis subscriptions that follow."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.prefix = prefix
        self.redis = aioredis.Redis.from_url(redis_url)
        self.pubsub: PubSub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.members: dict[str, set[Any]] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        # A control channel, so the connection exists before the first reader does.
        await self.pubsub.subscribe(f"{self.prefix}:")

    async def join(self, article: str, member: Any) -> None:
        async with self._lock:
            room = self.members.get(article)
            if room is None:
                room = self.members[article] = set()
                await self.pubsub.subscribe(f"{self.prefix}:{article}")
            room.add(member)

    async def leave(self, article: str, member: Any) -> None:
        async with self._lock:
            room = self.members.get(article)
            if room is None:
                return
            room.discard(member)
            if not room:
                del self.members[article]
                await self.pubsub.unsubscribe(f"{self.prefix}:{article}")

    async def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        """(article, data) for each message published to a watched article."""
        start = len(self.prefix) + 1
        while True:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            yield channel[start:], message["data"]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()
        await self.redis.aclose()


async def serve_websockets(port: int, redis_url: str, prefix: str) -> None:
    """(a): a bare ``websockets`` server with ``broadcast()``."""
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    rooms = Rooms(redis_url, prefix)
    await rooms.start()

    async def handler(websocket: ServerConnection) -> None:
        article = article_of(websocket.request.path if websocket.request else "")
        await rooms.join(article, websocket)
        try:
            await websocket.wait_closed()
        finally:
            await rooms.leave(article, websocket)

    async with serve(
        handler,
        "127.0.0.1",
        port,
        compression=None,  # as `comments serve` (permessage-deflate is opt-in there)
        max_size=MAX_MESSAGE,
        ping_interval=PING_S,
        ping_timeout=PING_S,
    ):
        try:
            async for article, data in rooms.messages():
                broadcast(rooms.members.get(article, ()), data, text=True)
        finally:
            await rooms.close()


class Broadcast:
    """encode/broadcaster's shape: an unbounded queue per subscriber, one listener."""

    def __init__(self, rooms: Rooms) -> None:
        self.rooms = rooms

    async def listen(self) -> None:
        async for article, data in self.rooms.messages():
            message = data.decode()
            for queue in list(self.rooms.members.get(article, ())):
                await queue.put(message)

    @contextlib.asynccontextmanager
    async def subscribe(self, article: str) -> AsyncIterator[asyncio.Queue[str | None]]:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        await self.rooms.join(article, queue)
        try:
            yield queue
        finally:
            await self.rooms.leave(article, queue)


def broadcaster_app(redis_url: str, prefix: str) -> Any:
    """(b): a Starlette app with a queue per subscriber and ``send_text`` per message."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    rooms = Rooms(redis_url, prefix)
    broadcast = Broadcast(rooms)

    async def sender(websocket: WebSocket, article: str) -> None:
        async with broadcast.subscribe(article) as queue:
            while (message := await queue.get()) is not None:
                await websocket.send_text(message)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        task = asyncio.create_task(sender(websocket, websocket.path_params["article"]))
        try:  # the chat example's receiver: read until the client leaves
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        except WebSocketDisconnect:
            pass
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await rooms.start()
        listener = asyncio.create_task(broadcast.listen())
        try:
            yield
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await rooms.close()

    return Starlette(
        routes=[WebSocketRoute("/ws/v1/sites/{site}/articles/{article:path}", endpoint)],
        lifespan=lifespan,
    )


def serve_broadcaster(port: int, redis_url: str, prefix: str) -> None:
    import uvicorn

    config = uvicorn.Config(
        broadcaster_app(redis_url, prefix),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_ping_interval=PING_S,
        ws_ping_timeout=PING_S,
        ws_max_size=MAX_MESSAGE,
        log_level="warning",
        server_header=False,
    )
    uvicorn.Server(config).run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m comments.bench.baselines", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("kind", choices=("websockets", "broadcaster"))
    parser.add_argument("--port", type=port, required=True)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis URL")
    parser.add_argument(
        "--channel", required=True, help="channel prefix: article A is on channel C:A"
    )
    args = parser.parse_args(argv)

    from comments.server.rlimit import raise_open_files_limit

    raise_open_files_limit()
    if args.kind == "broadcaster":
        serve_broadcaster(args.port, args.redis, args.channel)
        return
    import uvloop

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve_websockets(args.port, args.redis, args.channel))


if __name__ == "__main__":
    main()
