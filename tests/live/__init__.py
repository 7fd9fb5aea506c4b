"""Helpers for the live-stream tests: read frames as events, collect them, post comments.

Frames are a single event or ``{"type": "batch", "events": [...]}`` (docs/api.md); every test
reads them through ``events_of`` so both shapes are always accepted.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from tests.conftest import RunningServer

Event = dict[str, Any]


def events_of(frame: str | bytes) -> list[Event]:
    """The events one frame carries, in order."""
    data = json.loads(frame)
    assert isinstance(data, dict), f"a frame is a JSON object, got {frame!r:.200}"
    if data.get("type") == "batch":
        events = data["events"]
        assert isinstance(events, list) and events, "a batch carries at least one event"
        return events
    return [data]


async def recv_events(ws: ClientConnection, *, timeout: float = 10.0) -> list[Event]:
    """The events of the next frame; fails if none arrives within ``timeout``."""
    return events_of(await asyncio.wait_for(ws.recv(), timeout))


async def collect_until(
    ws: ClientConnection, last_seq: int, *, timeout: float = 20.0
) -> list[Event]:
    """Every event received until one with ``seq >= last_seq`` (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    got: list[Event] = []
    while not got or got[-1]["seq"] < last_seq:
        left = deadline - time.monotonic()
        if left <= 0:
            seen = [e.get("seq") for e in got]
            raise AssertionError(f"seq {last_seq} not seen within {timeout}s; got {seen}")
        try:
            got.extend(await recv_events(ws, timeout=left))
        except TimeoutError:
            seen = [e.get("seq") for e in got]
            raise AssertionError(f"seq {last_seq} not seen within {timeout}s; got {seen}") from None
    return got


def seqs(events: list[Event]) -> list[int]:
    return [int(e["seq"]) for e in events]


def thread_url(site: str, article: str) -> str:
    return f"/api/v1/sites/{site}/articles/{article}/comments"


def socket_url(ws_base: str, site: str, article: str, since: int | None = None) -> str:
    url = f"{ws_base}/ws/v1/sites/{site}/articles/{article}"
    return url if since is None else f"{url}?since={since}"


async def post(
    http: httpx.AsyncClient,
    article: str,
    body: str,
    *,
    site: str = "news",
    name: str = "Ana",
    guest_token: str | None = None,
) -> dict[str, Any]:
    """Post as a guest and return the response JSON (asserting 201: published)."""
    headers = {"X-Comments-Guest": guest_token} if guest_token else {}
    r = await http.post(
        thread_url(site, article), json={"body": body, "author_name": name}, headers=headers
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def connect_slow_reader(server: RunningServer, url: str) -> ClientConnection:
    """A socket whose buffers fill fast: it reads nothing until the test reads it.

    Linux lets a loopback send buffer grow to 4 MB; a small one on the server's listener
    (its connections inherit it) and a small receive buffer here make "the kernel buffers
    are full" quick to reach, and ``max_queue=1`` pauses the client's reading after one
    message.
    """
    for listener in server.server.servers:
        for sock in listener.sockets:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", server.port))
    raw.setblocking(False)
    return await websockets.connect(url, sock=raw, max_queue=1, ping_interval=None)
