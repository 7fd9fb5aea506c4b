"""Live like counts (docs/api.md, "Reactions"): a like on node A reaches a socket on
node B as a ``comment.reactions`` frame with no seq, through Redis; a burst of likes
arrives coalesced (at most one frame per comment per second). Two real servers over
sockets, on one PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from comments.settings import Settings
from tests.api import SSO_SECRET, sso_token
from tests.conftest import REDIS_URL, RunningServer, add_site, api_client
from tests.live import post, socket_url, thread_url

ARTICLE = "2026/12/live-likes"
Frame = dict[str, Any]


async def _frames_until(
    ws: ClientConnection, done: Any, *, timeout: float = 20.0
) -> list[tuple[float, Frame]]:
    """Every frame (with its arrival time) until one for which ``done`` holds."""
    deadline = time.monotonic() + timeout
    got: list[tuple[float, Frame]] = []
    while not got or not done(got[-1][1]):
        left = deadline - time.monotonic()
        assert left > 0, f"not seen within {timeout}s; got {[f for _, f in got]}"
        try:
            text = await asyncio.wait_for(ws.recv(), left)
        except TimeoutError:
            raise AssertionError(f"not seen within {timeout}s; got {got}") from None
        got.append((time.monotonic(), json.loads(text)))
    return got


def _likes(got: list[tuple[float, Frame]]) -> list[tuple[float, Frame]]:
    return [(t, f) for t, f in got if f.get("type") == "comment.reactions"]


async def _like(http: httpx.AsyncClient, comment_id: str, reader: str) -> None:
    r = await http.put(
        f"{thread_url('news', ARTICLE)}/{comment_id}/reaction",
        json={},
        headers={"Authorization": f"Bearer {sso_token(reader)}"},
    )
    assert r.status_code == 200, r.text


async def test_likes_reach_another_node_live_and_coalesced(
    postgres_url: str, channel_prefix: str, start_server: object
) -> None:
    await add_site(postgres_url, sso_secrets=[SSO_SECRET])
    base = Settings(database_url=postgres_url, broker_url=REDIS_URL, channel_prefix=channel_prefix)
    node_a: RunningServer = await start_server(base)  # type: ignore[operator]
    node_b: RunningServer = await start_server(base)  # type: ignore[operator]
    async with api_client(node_a.url) as a, api_client(node_b.url) as b:
        liked = (await post(a, ARTICLE, "like me"))["comment"]
        ws = await websockets.connect(socket_url(node_b.ws_url, "news", ARTICLE, liked["seq"]))
        # B's channel is live once a comment posted on A reaches its socket.
        marker = (await post(a, ARTICLE, "are you there, B?"))["comment"]
        await _frames_until(ws, lambda f: f.get("seq") == marker["seq"])

        await _like(a, liked["id"], "first")
        got = _likes(await _frames_until(ws, lambda f: f.get("type") == "comment.reactions"))
        assert [f for _, f in got] == [
            {"type": "comment.reactions", "id": liked["id"], "reactions": 1}
        ]  # no seq: outside the stream

        # 50 likes in a burst, from both nodes: coalesced, and the last count arrives.
        # The socket is read while the likes go, so arrival times are real.
        reading = asyncio.create_task(
            _frames_until(ws, lambda f: f.get("reactions") == 51 and f.get("id") == liked["id"])
        )
        started = time.monotonic()
        await asyncio.gather(
            *(_like(a if i % 2 else b, liked["id"], f"reader{i}") for i in range(50))
        )
        burst = _likes(await reading)
        elapsed = time.monotonic() - started
        assert len(burst) <= elapsed + 2, (len(burst), elapsed)
        times = [t for t, _ in got + burst]
        # At most two frames in any second (one a second, with room for jitter).
        assert all(sum(t <= u < t + 1.0 for u in times) <= 2 for t in times), times
        metrics = (await b.get("/metrics")).text.splitlines()
        line = next(ln for ln in metrics if ln.startswith("comments_like_frames_total "))
        assert float(line.split()[1]) == len(got) + len(burst)  # B's one socket got them all
        counts = [f["reactions"] for _, f in burst]
        assert counts == sorted(counts)  # never an older count after a newer one
        await ws.close()
