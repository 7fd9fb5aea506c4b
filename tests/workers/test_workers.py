"""Scoring workers on a Redis Stream (``COMMENTS_SCORING=workers``), on real Redis.

In-loop tests run a node (uvicorn) and workers in the test's event loop, on SQLite and
PostgreSQL, and once on a real Redis Cluster. The fault tests run `comments serve` and
`comments worker` as processes: a worker killed with SIGKILL in the middle of a batch, and
no worker at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
import websockets
from websockets.asyncio.client import ClientConnection

from comments.infra.broker import BrokerUnavailable
from comments.infra.ratelimit.redis import RedisRateLimiter
from comments.models import Status
from comments.node import Node as Parts
from comments.scoring.queue import GROUP, ScoringStream, stream_key, workers_key
from comments.scoring.worker import Worker, worker_of
from comments.settings import Settings, SettingsError
from comments.store import create_store
from tests.cluster import RedisCluster
from tests.conftest import (
    PG_PORT,
    REDIS_URL,
    Node,
    RunningServer,
    add_site,
    free_port,
    wait_until,
)
from tests.live import events_of, socket_url
from tests.moderation import (
    ARTICLE,
    CLEAN,
    TOXIC,
    TOXIC_REASON,
    UNAVAILABLE,
    Guest,
    mod_settings,
    post,
)
from tests.tcp_proxy import TcpProxy

StartServer = Callable[..., Any]
StartNode = Callable[[dict[str, str]], Node]


def node_settings(database_url: str, prefix: str, **changes: Any) -> Settings:
    return mod_settings(
        database_url, REDIS_URL, prefix, scoring="workers", worker_timeout_s=20.0
    ).with_(**changes)


@contextlib.asynccontextmanager
async def worker_running(settings: Settings) -> AsyncIterator[Worker]:
    """A worker in this event loop, stopped (its batch finished) at the end."""
    svc = Parts.build(settings, role="worker")
    stream = ScoringStream(settings.broker_url, settings.channel_prefix)
    await svc.start()
    worker = worker_of(svc, stream)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await stream.close()
        await svc.stop()


async def reader(server: RunningServer) -> ClientConnection:
    return await websockets.connect(socket_url(server.ws_url, "news", ARTICLE, 0))


async def next_bodies(ws: ClientConnection, count: int) -> list[str]:
    bodies: list[str] = []
    while len(bodies) < count:
        frame = await asyncio.wait_for(ws.recv(), 20)
        bodies.extend(e["comment"]["body"] for e in events_of(frame))
    return bodies


# -- settings -----------------------------------------------------------------------------


def test_workers_need_redis() -> None:
    with pytest.raises(SettingsError, match="COMMENTS_REDIS_URL"):
        Settings.from_env({"COMMENTS_SCORING": "workers"})
    with pytest.raises(SettingsError, match="COMMENTS_SCORING"):
        Settings.from_env({"COMMENTS_SCORING": "threads", "COMMENTS_REDIS_URL": REDIS_URL})
    s = Settings.from_env(
        {
            "COMMENTS_SCORING": "workers",
            "COMMENTS_REDIS_URL": REDIS_URL,
            "COMMENTS_WORKER_TIMEOUT_S": "3",
            "COMMENTS_WORKER_CLAIM_IDLE_S": "7",
        }
    )
    assert (s.scoring, s.worker_timeout_s, s.worker_claim_idle_s) == ("workers", 3.0, 7.0)
    for cluster in ("redis-cluster://10.0.0.1:7000,10.0.0.2:7000", "rediss-cluster://h:7000"):
        s = Settings.from_env({"COMMENTS_SCORING": "workers", "COMMENTS_REDIS_URL": cluster})
        assert (s.scoring, s.broker_url) == ("workers", cluster)


# -- in one event loop --------------------------------------------------------------------


async def test_a_worker_decides_posts_and_the_node_answers_with_the_decision(
    database_url: str, channel_prefix: str, start_server: StartServer
) -> None:
    await add_site(database_url)
    node = await start_server(node_settings(database_url, channel_prefix))
    async with node.client() as http:
        ready = (await http.get("/readyz")).json()
        assert ready["classifier"]["name"] == "workers"
        assert ready["classifier"]["state"] == "failed", "no worker yet"
    async with worker_running(node_settings(database_url, channel_prefix)) as worker:
        async with node.client() as http:

            async def workers_ready() -> bool:
                r = await http.get("/readyz")
                return bool(r.json()["classifier"]["state"] == "ok")

            await wait_until(workers_ready, timeout=20)
            ws = await reader(node)
            try:
                clean = await post(http, CLEAN)
                assert clean.status_code == 201, clean.text
                toxic = await post(http, TOXIC, guest=Guest("Bo"))
                assert toxic.status_code == 202, toxic.text
                assert await next_bodies(ws, 1) == [CLEAN]
            finally:
                await ws.close()
            held = await node.node.review.item(toxic.json()["comment"]["id"])
            assert held.reasons == [TOXIC_REASON] and not held.unscored
            assert held.scores["profanity"] > 0.5
        assert worker.scored == 2
        # The node scored nothing itself: it has no model.
        assert node.node.scorer.batcher is None


async def test_on_a_redis_cluster_a_worker_decides_posts(
    sqlite_url: str,
    channel_prefix: str,
    start_server: StartServer,
    redis_cluster: RedisCluster,
) -> None:
    """COMMENTS_REDIS_URL=redis-cluster://…: jobs, heartbeats, the worker's answers (shard
    channels) and the rate limits all go through the cluster."""
    await add_site(sqlite_url, posts_per_minute_per_ip=2)
    settings = node_settings(sqlite_url, channel_prefix, broker_url=redis_cluster.url)
    node = await start_server(settings)
    async with worker_running(settings) as worker, node.client() as http:

        async def workers_ready() -> bool:
            r = await http.get("/readyz")
            return bool(r.json()["classifier"]["state"] == "ok")

        await wait_until(workers_ready, timeout=20)
        ws = await reader(node)
        try:
            clean = await post(http, CLEAN)
            assert clean.status_code == 201, clean.text
            toxic = await post(http, TOXIC, guest=Guest("Bo"))
            assert toxic.status_code == 202, toxic.text
            assert toxic.json()["comment"]["status"] == "held"
            assert await next_bodies(ws, 1) == [CLEAN]
            third = await post(http, f"{CLEAN} again", guest=Guest("Cy"))
            assert third.status_code == 429, third.text
        finally:
            await ws.close()
        held = await node.node.review.item(toxic.json()["comment"]["id"])
        assert held.reasons == [TOXIC_REASON] and not held.unscored
        assert held.scores["profanity"] > 0.5
        # Both jobs went through the stream on the master of its slot, and are done.
        stream = stream_key(channel_prefix)
        with redis_cluster.owner(stream).client() as owner:
            info = owner.xinfo_stream(stream)
        assert (info["entries-added"], info["length"]) == (2, 0)
        beats = workers_key(channel_prefix)
        assert redis_cluster.owner(beats).command("ZCARD", beats) == 1
    assert worker.scored == 2
    limiter = node.node.limiter
    assert isinstance(limiter, RedisRateLimiter) and limiter.fallbacks == 0
    counts = [
        master.command("KEYS", f"{channel_prefix}:ratelimit:*") for master in redis_cluster.nodes
    ]
    assert any(counts), "the limit was counted on the cluster"


async def test_a_redis_cluster_out_of_reach_is_waited_out_like_redis(
    sqlite_url: str, channel_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A node cannot queue the job (the post is then held), and a worker keeps retrying
    rather than dying, as when a single Redis is away."""
    caplog.set_level(logging.WARNING, logger="comments.worker")
    url = f"redis-cluster://127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    stream = ScoringStream(url, channel_prefix)
    try:
        with pytest.raises(BrokerUnavailable):
            await stream.add("c_1", reply="")
    finally:
        await stream.close()

    def retries() -> int:
        return sum("redis unavailable" in r.getMessage() for r in caplog.records)

    settings = node_settings(sqlite_url, channel_prefix, broker_url=url)
    await add_site(sqlite_url)
    async with worker_running(settings):  # its exit fails if the worker died
        await wait_until(lambda: retries() >= 2, timeout=20)


async def test_with_no_worker_posts_are_held_then_scored_when_one_starts(
    database_url: str, channel_prefix: str, start_server: StartServer
) -> None:
    await add_site(database_url)
    settings = node_settings(database_url, channel_prefix, worker_timeout_s=0.5)
    node = await start_server(settings)
    async with node.client() as http:
        clean = await post(http, CLEAN)
        toxic = await post(http, TOXIC, guest=Guest("Bo"))
        for r in (clean, toxic):
            assert r.status_code == 202, r.text
            assert r.json()["comment"]["status"] == "held"
        clean_id, toxic_id = (r.json()["comment"]["id"] for r in (clean, toxic))
        item = await node.node.review.item(clean_id)
        assert item.reasons == [UNAVAILABLE] and item.unscored
        ws = await reader(node)
        try:
            async with worker_running(settings):
                assert await next_bodies(ws, 1) == [CLEAN]  # published once scored

                async def toxic_scored() -> bool:
                    it = await node.node.review.item(toxic_id)
                    return not it.unscored

                await wait_until(toxic_scored, timeout=20)
        finally:
            await ws.close()
        item = await node.node.review.item(toxic_id)
        assert item.comment.status is Status.HELD and item.reasons == [TOXIC_REASON]
        listed = await http.get(f"/api/v1/sites/news/articles/{ARTICLE}/comments")
        assert [c["id"] for c in listed.json()["comments"]] == [clean_id]


async def test_a_job_delivered_twice_publishes_once(
    database_url: str, channel_prefix: str, start_server: StartServer
) -> None:
    """At-least-once delivery: the same comment queued again (a retry, a claim racing a
    slow worker) and read by two workers at once — one comment.published event."""
    await add_site(database_url)
    settings = node_settings(database_url, channel_prefix)
    node = await start_server(settings)
    stream = ScoringStream(REDIS_URL, channel_prefix)
    try:
        async with worker_running(settings) as one, worker_running(settings) as two:
            async with node.client() as http:
                ids = []
                for i in range(5):
                    r = await post(http, f"{CLEAN} {i}", guest=Guest(f"G{i}"))
                    assert r.status_code == 201, r.text
                    ids.append(r.json()["comment"]["id"])
            for comment_id in ids * 3:  # each job three more times
                await stream.add(comment_id, reply="")
            await wait_until(lambda: one.scored + two.scored >= 20, timeout=20)
            assert await stream.backlog() == 0
    finally:
        await stream.close()
    events = await published_events(database_url)
    assert sorted(events) == sorted(ids), "each comment published exactly once"


async def published_events(database_url: str) -> list[str]:
    store = create_store(database_url)
    try:
        async with store.engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT comment_id FROM events WHERE type = 'comment.published'")
            )
            return [str(r[0]) for r in rows]
    finally:
        await store.close()


# -- processes ----------------------------------------------------------------------------


def process_env(database_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        "COMMENTS_DATABASE_URL": database_url,
        "COMMENTS_REDIS_URL": REDIS_URL,
        "COMMENTS_CHANNEL_PREFIX": prefix,
        "COMMENTS_CLASSIFIER": "profanity-check",
        "COMMENTS_SCORING": "workers",
        "COMMENTS_RESYNC_INTERVAL_S": "1",
        **extra,
    }


class WorkerProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "comments", "worker"],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def start_worker(tmp_path: Path) -> Any:
    workers: list[WorkerProcess] = []

    def start(env: dict[str, str]) -> WorkerProcess:
        worker = WorkerProcess(env, tmp_path / f"worker-{len(workers)}.log")
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


async def pending_of(prefix: str) -> dict[str, int]:
    """Jobs read but not acknowledged, per consumer (XPENDING's summary)."""
    r = aioredis.Redis.from_url(REDIS_URL)
    try:
        summary = await r.xpending(stream_key(prefix), GROUP)
        return {
            (c["name"].decode() if isinstance(c["name"], bytes) else c["name"]): int(c["pending"])
            for c in summary["consumers"]
        }
    finally:
        await r.aclose()


async def live_workers(prefix: str) -> int:
    stream = ScoringStream(REDIS_URL, prefix)
    try:
        return await stream.live_workers()
    finally:
        await stream.close()


async def test_a_worker_killed_mid_batch_loses_nothing_and_publishes_nothing_twice(
    postgres_url: str, channel_prefix: str, start_node: StartNode, start_worker: Any
) -> None:
    await add_site(postgres_url)
    patient = process_env(postgres_url, channel_prefix, COMMENTS_WORKER_TIMEOUT_S="90")
    node = await asyncio.to_thread(start_node, patient)
    # Worker A reaches PostgreSQL through a proxy the test stalls: A reads a batch from
    # the stream, then hangs deciding it — and is killed there.
    proxy = TcpProxy(PG_PORT)
    await proxy.start()
    via_proxy = proxy.url_for(postgres_url)
    claim_env = {"COMMENTS_WORKER_CLAIM_IDLE_S": "2", "COMMENTS_RECOVER_INTERVAL_S": "0"}
    doomed = start_worker(process_env(via_proxy, channel_prefix, **claim_env))
    await wait_until(lambda: live_workers(channel_prefix), timeout=60)
    proxy.stall()
    total = 12
    async with (
        httpx.AsyncClient(base_url=node.url, timeout=60) as http,
        websockets.connect(socket_url(node.ws_url, "news", ARTICLE, 0)) as ws,
    ):
        posts = [
            asyncio.create_task(post(http, f"{CLEAN} number {i}", guest=Guest(f"G{i}")))
            for i in range(total)
        ]

        async def doomed_holds_jobs() -> bool:
            return sum((await pending_of(channel_prefix)).values()) > 0

        await wait_until(doomed_holds_jobs, timeout=30)
        held_by_doomed = sum((await pending_of(channel_prefix)).values())
        doomed.proc.kill()  # SIGKILL mid-batch: no XACK, no goodbye
        doomed.proc.wait(10)
        await proxy.stop()
        start_worker(process_env(postgres_url, channel_prefix, **claim_env))
        answers = await asyncio.wait_for(asyncio.gather(*posts), 60)
        assert [r.status_code for r in answers] == [201] * total, [r.text for r in answers]
        seen: list[int] = []
        while len(seen) < total:
            frame = await asyncio.wait_for(ws.recv(), 30)
            seen.extend(int(e["seq"]) for e in events_of(frame))
    assert held_by_doomed >= 1
    assert seen == list(range(1, total + 1)), "every comment once, in order"
    ids = [r.json()["comment"]["id"] for r in answers]
    assert sorted(await published_events(postgres_url)) == sorted(ids)
    await wait_until(lambda: _no_pending(channel_prefix), timeout=20)


async def _no_pending(prefix: str) -> bool:
    return sum((await pending_of(prefix)).values()) == 0


async def test_no_worker_running_holds_posts_until_a_worker_starts(
    postgres_url: str, channel_prefix: str, start_node: StartNode, start_worker: Any
) -> None:
    await add_site(postgres_url)
    env = process_env(postgres_url, channel_prefix, COMMENTS_WORKER_TIMEOUT_S="1")
    node = await asyncio.to_thread(start_node, env)
    async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
        r = await post(http, CLEAN)
        assert r.status_code == 202, r.text
        assert r.json()["comment"]["status"] == "held"
        ready = (await http.get("/readyz")).json()["classifier"]
        assert ready["state"] == "failed" and "0 worker(s)" in ready["detail"]
        async with websockets.connect(socket_url(node.ws_url, "news", ARTICLE, 0)) as ws:
            start_worker(env)
            frame = await asyncio.wait_for(ws.recv(), 60)
            assert [e["comment"]["body"] for e in events_of(frame)] == [CLEAN]
        r = await post(http, f"{CLEAN} again", guest=Guest("Bo"))
        assert r.status_code == 201, "with a worker up, posts are answered with its decision"
