"""A page that follows one article across node failures, as the widget does.

On a dropped socket it reconnects to the next node with ``since`` = the last seq it saw,
and it keeps what a test needs to judge that: every seq in the order received, the close
code of every socket the server closed, and how often it reconnected.
"""

from __future__ import annotations

import asyncio
import contextlib

import websockets
from websockets.exceptions import ConnectionClosed

from tests.conftest import Node
from tests.live import events_of, socket_url


class Reader:
    def __init__(self, nodes: list[Node], first: int, article: str, site: str = "news") -> None:
        self.nodes = nodes
        self.index = first
        self.article = article
        self.site = site
        self.seqs: list[int] = []
        self.types: set[str] = set()
        # The close code each closed socket received from the server (None: no close
        # frame, the connection just went away or never opened).
        self.closes: list[int | None] = []
        self.reconnects = 0
        self.connected = asyncio.Event()
        self.on: Node | None = None  # the node of the socket now open
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            node = self.nodes[self.index % len(self.nodes)]
            since = self.seqs[-1] if self.seqs else 0
            code: int | None = None
            try:
                async with websockets.connect(
                    socket_url(node.ws_url, self.site, self.article, since), open_timeout=10
                ) as ws:
                    self.on = node
                    self.connected.set()
                    try:
                        async for frame in ws:
                            for event in events_of(frame):
                                self.types.add(str(event["type"]))
                                self.seqs.append(int(event["seq"]))
                    finally:
                        self.on = None
                        received = ws.protocol.close_rcvd
                        code = received.code if received is not None else None
            except (OSError, ConnectionClosed, TimeoutError):
                pass
            self.closes.append(code)
            self.reconnects += 1
            self.index += 1  # that node is gone or going: try the next one
            await asyncio.sleep(0.05)  # reconnect pacing, not synchronisation

    def has(self, last: int) -> bool:
        return len(self.seqs) >= last

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
