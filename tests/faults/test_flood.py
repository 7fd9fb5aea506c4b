"""A 60-second flood against one real node: it keeps answering, its memory stays bounded.

The node is `comments serve` on PostgreSQL and Redis, the production set-up: rate limits
shared through Redis, the database's cache in its own process, so the node's RSS is the
node's own (on SQLite the page cache is in-process, and a refused post cost more CPU).
The flood comes from a separate process (flood.py) on 127.0.0.1 under the site's default
rate limits: posts offered at 1k/s, nearly all answered 429 (the point is that the node
keeps answering), and 10k WebSocket connection attempts, half of them kept open, past the
per-address cap. Meanwhile a probe on another loopback address (127.0.0.2, a per-IP
budget of its own) reads, posts and opens sockets like any reader, and the node's VmRSS
is sampled.

A refused post costs the node ~1.2 ms of CPU (HTTP and middleware, the article read that
the contract's check order puts before the rate limit, the Redis rate-limit script), so
one node cannot answer 1k posts/s on one core: the offered 1k/s holds it at its limit for
the whole minute, and the test asserts the load it really sustained (printed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.conftest import REDIS_URL, Node, add_site, wait_until
from tests.live import events_of, socket_url, thread_url

StartNode = Callable[[dict[str, str]], Node]
FLOOD = Path(__file__).with_name("flood.py")
SECONDS = 60
POSTS_PER_S = 1000  # offered
# Answered, per second of the flood, at the least. Measured on this 2-core machine with
# other test runs and benchmarks beside it: 300-400. A floor that a busy machine clears,
# and still 75 times what the site lets one address post.
POSTS_ANSWERED_PER_S_MIN = 150
FLOOD_CONNECTIONS = 64  # keep-alive posters: enough to offer 1k/s at ~60 ms latency
ATTEMPTS = 10_000
# Sockets the flood keeps open at most: above the per-address cap (1000). The node closes
# some itself: raw sockets never answer its pings.
HOLD = 1200
PROBE_IP = "127.0.0.2"
RSS_GROWTH_MAX_KB = 200 * 1024


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


class Probe:
    """A reader from another address: every request must get an HTTP answer, never a
    5xx, and every comment it posts must reach its live socket."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.http = httpx.AsyncClient(
            base_url=node.url,
            timeout=15,
            transport=httpx.AsyncHTTPTransport(local_address=PROBE_IP),
        )
        self.answers = 0
        self.failures: list[str] = []
        self.seen: set[int] = set()
        self.posted: list[int] = []

    async def watch(self) -> None:
        # since=0: every comment of the thread, whenever the socket opens.
        url = socket_url(self.node.ws_url, "news", "probe", since=0)
        async with websockets.connect(url, open_timeout=15, local_addr=(PROBE_IP, 0)) as ws:
            async for frame in ws:
                self.seen.update(int(e["seq"]) for e in events_of(frame))

    async def open_socket(self) -> None:
        """A new page opening while the flooder sits at its socket cap: it connects
        and gets the thread's events."""
        url = socket_url(self.node.ws_url, "news", "probe", since=0)
        try:
            async with websockets.connect(url, open_timeout=15, local_addr=(PROBE_IP, 0)) as ws:
                events_of(await asyncio.wait_for(ws.recv(), 15))
            self.answers += 1
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            self.failures.append(f"a new socket failed: {exc!r}")

    async def request(self, method: str, path: str, expected: int, **kwargs: Any) -> Any:
        try:
            r = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.failures.append(f"{method} {path}: no answer ({exc!r})")
            return None
        self.answers += 1
        if r.status_code != expected:
            self.failures.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
            return None
        return r.json()

    async def post(self, body: str, name: str) -> None:
        posted = await self.request(
            "POST", thread_url("news", "probe"), 201, json={"body": body, "author_name": name}
        )
        if posted is None:
            return
        seq = int(posted["comment"]["seq"])
        self.posted.append(seq)
        try:
            await wait_until(lambda: seq in self.seen, timeout=15)
        except AssertionError:
            self.failures.append(f"probe comment {seq} did not reach the live socket")

    async def run(self, until: asyncio.Future[Any], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        for round_ in range(1, 1000):  # bounded in count and time
            if until.done() or time.monotonic() > deadline:
                return
            await self.request("GET", "/healthz", 200)
            await self.request("GET", thread_url("news", "probe"), 200)
            await self.request("GET", "/api/v1/sites/news/counts?article=flood", 200)
            if round_ % 4 == 0:
                await self.post(f"probe comment {round_}", f"Probe{round_}")
            if round_ % 4 == 2:
                await self.open_socket()
            await asyncio.sleep(0.5)  # pacing: a reader, not a second flood


async def test_node_keeps_answering_under_a_flood_and_its_memory_stays_bounded(
    postgres_url: str, channel_prefix: str, start_node: StartNode
) -> None:
    # The real defaults: 120 posts a minute per address, 10 per author.
    await add_site(postgres_url, posts_per_minute_per_ip=120, posts_per_minute_per_author=10)
    node = await asyncio.to_thread(
        start_node,
        {
            "COMMENTS_DATABASE_URL": postgres_url,
            "COMMENTS_REDIS_URL": REDIS_URL,
            "COMMENTS_CHANNEL_PREFIX": channel_prefix,
            "COMMENTS_CLASSIFIER": "profanity-check",
        },
    )
    probe = Probe(node)
    watcher = asyncio.create_task(probe.watch())
    samples: list[int] = []
    try:
        await probe.post("probe before the flood", "Probe0")
        assert probe.failures == [] and probe.posted, probe.failures
        baseline, cpu_before = rss_kb(node.proc.pid), cpu_s(node.proc.pid)

        flood = await asyncio.create_subprocess_exec(
            sys.executable,
            str(FLOOD),
            *("--port", str(node.port), "--seconds", str(SECONDS)),
            *("--posts-per-s", str(POSTS_PER_S), "--connections", str(FLOOD_CONNECTIONS)),
            *("--attempts", str(ATTEMPTS), "--hold", str(HOLD)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        done = asyncio.ensure_future(flood.communicate())

        async def sample_rss() -> None:
            while not done.done():
                samples.append(rss_kb(node.proc.pid))
                await asyncio.sleep(2)  # the sampling period, not synchronisation

        sampler = asyncio.create_task(sample_rss())
        try:
            await probe.run(done, SECONDS + 30)
            out, err = await asyncio.wait_for(done, SECONDS + 30)
        finally:
            if flood.returncode is None:
                flood.kill()
            await sampler
        samples.append(rss_kb(node.proc.pid))
        node_cpu = cpu_s(node.proc.pid) - cpu_before
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
        await probe.http.aclose()

    assert flood.returncode == 0, err.decode()[-3000:]
    achieved = json.loads(out)
    posts, sockets = achieved["posts"], achieved["connections"]
    print(
        f"\nflood: {json.dumps(achieved)}\nnode: RSS {baseline // 1024} MB before, "
        f"{max(samples) // 1024} MB at most ({len(samples)} samples), "
        f"CPU {node_cpu:.1f} s; probe: {probe.answers} answers, {len(probe.posted)} posts"
    )

    # The flood was what this test claims.
    assert posts["offered"] == SECONDS * POSTS_PER_S, posts
    assert posts["per_s"] >= POSTS_ANSWERED_PER_S_MIN, posts
    assert sockets["attempts"] == ATTEMPTS, sockets
    # Every request of the flood got an answer: refusals, not failures. (A 503 with
    # Retry-After is a refusal too: on a starved machine a post can wait past the
    # database pool's timeout.)
    assert posts["answered"] == posts["sent"] and not posts["errors"], posts
    assert set(posts["status"]) <= {"201", "202", "429", "503"}, posts
    assert posts["status"]["429"] >= 0.95 * posts["answered"], posts
    assert sum(sockets["status"].values()) == ATTEMPTS and not sockets["errors"], sockets
    assert set(sockets["status"]) == {"101", "429"}, "the per-address cap was reached"

    # A reader elsewhere was served all along, and the node stayed small.
    assert probe.failures == [], probe.failures
    assert len(probe.posted) >= 5, "the probe posted during the flood"
    assert node.proc.poll() is None, node.log.read_text()[-3000:]
    assert max(samples) - baseline < RSS_GROWTH_MAX_KB, (baseline, samples)
