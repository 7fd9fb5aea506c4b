"""Moderation fails closed (docs/api.md, "Command line and settings"): a classifier that
raises, hangs or cannot load holds every comment (202, "classifier unavailable", no
scores) and publishes nothing, while the node keeps serving; when it is back, the
recovery loop scores what it held and publishes the clean ones live. Comments a crashed
node left undecided are decided at the next start. Concurrent posts share classifier
calls (micro-batching)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from comments.scoring.classifier import ClassifierLoadError, MicroBatcher
from comments.scoring.classifier.profanity import ProfanityCheckClassifier
from comments.scoring.classifier.testing import TinyDetoxify, build_tiny_detoxify, forbid_network
from comments.scoring.scorer import Scorer
from comments.settings import Settings
from comments.store import create_store
from tests.conftest import RunningServer, add_site, wait_until
from tests.moderation import (
    ARTICLE,
    CLEAN,
    TOXIC,
    TOXIC_REASON,
    UNAVAILABLE,
    CountingProfanity,
    Events,
    FailingClassifier,
    Guest,
    HangingClassifier,
    bearer,
    execute,
    listed_ids,
    mod_settings,
    new_moderator,
    open_moderation,
    open_public,
    post,
    posted,
    swap_scorer,
    use_classifier,
)

Serve = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
def serve(database_url: str, channel_prefix: str, start_server: Any) -> Serve:
    async def serve(site: dict[str, Any] | None = None, **changes: Any) -> RunningServer:
        await add_site(database_url, **(site or {}))
        settings: Settings = mod_settings(database_url, "memory://", channel_prefix, **changes)
        server: RunningServer = await start_server(settings)
        return server

    return serve


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown, so a hanging classifier's thread always ends."""
    event = threading.Event()
    yield event
    event.set()


async def assert_held_unscored(comment: dict[str, Any], queue: list[dict[str, Any]]) -> None:
    (item,) = [i for i in queue if i["id"] == comment["id"]]
    assert item["status"] == "held"
    assert item["scores"] == {}
    assert item["reasons"] == [UNAVAILABLE]


async def test_a_classifier_that_raises_holds_everything(serve: Serve) -> None:
    server = await serve()
    await use_classifier(server, FailingClassifier())
    async with server.client() as http:
        ana = await new_moderator(server, http)
        public = await open_public(server)
        mod = await open_moderation(server, ana)
        clean = await posted(http, CLEAN, 202)
        toxic = await posted(http, TOXIC, 202)
        for comment in (clean, toxic):
            added = await mod.next()
            assert added["type"] == "queue.added" and added["item"]["id"] == comment["id"]
            assert added["item"]["scores"] == {}
            assert added["item"]["reasons"] == [UNAVAILABLE]
        queue = await ana.queue()
        await assert_held_unscored(clean, queue)
        await assert_held_unscored(toxic, queue)
        assert await listed_ids(http) == []

        # With a working classifier again (no recovery loop here), the next clean post
        # is the first thing open pages see: nothing held was broadcast.
        await use_classifier(server, ProfanityCheckClassifier())
        later = await posted(http, "a later, kind comment", 201)
        assert await public.next() == {"type": "comment.published", "seq": 1, "comment": later}
        await public.close()
        await mod.close()


async def test_a_hanging_classifier_times_out_and_the_node_keeps_serving(
    serve: Serve, release: threading.Event
) -> None:
    server = await serve(classifier_timeout_s=0.5)
    hanging = HangingClassifier(release)
    await use_classifier(server, hanging)
    async with server.client() as http:
        ana = await new_moderator(server, http)
        public = await open_public(server)
        posting = asyncio.create_task(post(http, CLEAN))
        await wait_until(hanging.entered.is_set)
        # The classifier thread is stuck (until teardown); the node answers meanwhile.
        assert (await http.get("/healthz")).status_code == 200
        r = await posting
        assert r.status_code == 202, r.text
        first = r.json()["comment"]
        assert first["status"] == "held"
        # Still stuck: the next post is held at once rather than queued behind it.
        second = await posted(http, "another friendly remark", 202)
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["classifier"]["state"] == "failed"
        assert (await http.get(f"/api/v1/sites/news/articles/{ARTICLE}/comments")).json()[
            "comments"
        ] == []
        queue = await ana.queue()
        await assert_held_unscored(first, queue)
        await assert_held_unscored(second, queue)

        await use_classifier(server, ProfanityCheckClassifier())
        later = await posted(http, "a later, kind comment", 201)
        assert await public.next() == {"type": "comment.published", "seq": 1, "comment": later}
        await public.close()


@pytest.fixture(scope="module")
def tiny_detoxify(tmp_path_factory: pytest.TempPathFactory) -> TinyDetoxify:
    with forbid_network() as attempts:
        tiny = build_tiny_detoxify(tmp_path_factory.mktemp("tiny-detoxify"))
    assert attempts == []
    return tiny


def bad_checkpoint(kind: str, tiny: TinyDetoxify, folder: Path) -> Path:
    """A Detoxify checkpoint that cannot load: absent, cut short, or missing a weight."""
    path = folder / f"{kind}.ckpt"
    if kind == "truncated":
        data = tiny.checkpoint.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "weight-missing":
        import torch

        loaded = torch.load(tiny.checkpoint, map_location="cpu", weights_only=False)
        dropped = next(k for k in loaded["state_dict"] if k.endswith("classifier.weight"))
        del loaded["state_dict"][dropped]
        torch.save(loaded, path)
    return path


@pytest.mark.parametrize(
    ("kind", "detail"),
    [
        ("missing", "does not exist"),
        ("truncated", "cannot read"),
        ("weight-missing", "does not match"),
    ],
    ids=["missing", "truncated", "weight-missing"],
)
async def test_detoxify_that_cannot_load_holds_all_until_the_classifier_is_back(
    serve: Serve,
    tiny_detoxify: TinyDetoxify,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    detail: str,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    checkpoint = bad_checkpoint(kind, tiny_detoxify, tmp_path)
    with forbid_network() as attempts:
        server = await serve(
            classifier="detoxify",
            detoxify_checkpoint=str(checkpoint),
            detoxify_config_dir=str(tiny_detoxify.config_dir),
            recover_interval_s=0.2,
        )
    assert attempts == []
    async with server.client() as http:
        ready = await http.get("/readyz")
        # The node still serves reads and sockets: a failed classifier is not unready.
        assert ready.status_code == 200, ready.text
        classifier = ready.json()["classifier"]
        assert classifier["name"] == "detoxify:original"
        assert classifier["state"] == "failed"
        assert detail in classifier["detail"]

        ana = await new_moderator(server, http)
        public = await open_public(server)
        mod = await open_moderation(server, ana)
        toxic = await posted(http, TOXIC, 202)
        clean = await posted(http, CLEAN, 202)
        queue = await ana.queue()
        await assert_held_unscored(toxic, queue)
        await assert_held_unscored(clean, queue)
        assert [e["type"] for e in await mod.take(2)] == ["queue.added", "queue.added"]

        # The classifier is back: the recovery loop scores what was held.
        await use_classifier(server, ProfanityCheckClassifier())
        event = await public.next()
        assert event["type"] == "comment.published" and event["seq"] == 1
        assert event["comment"]["id"] == clean["id"]
        assert event["comment"]["status"] == "published"
        await wait_until(lambda: _rescored(ana.queue, toxic["id"]))
        (item,) = await ana.queue()
        assert item["id"] == toxic["id"] and item["status"] == "held"
        assert item["reasons"] == [TOXIC_REASON]
        assert item["scores"]["profanity"] > 0.99
        assert await listed_ids(http) == [clean["id"]]
        # Moderators saw it live: the clean one left the queue, the toxic one came
        # back with its scores.
        removed = {"type": "queue.removed", "id": clean["id"]}
        seen = await _until(mod, lambda seen: removed in seen and _scored_item(seen))
        assert _scored_item(seen) == item
        await public.close()
        await mod.close()


async def _rescored(queue: Callable[[], Awaitable[list[dict[str, Any]]]], cid: str) -> bool:
    return any(i["id"] == cid and i["scores"] for i in await queue())


def _scored_item(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    added = [e["item"] for e in events if e["type"] == "queue.added" and e["item"]["scores"]]
    return added[-1] if added else None


async def _until(
    events: Events, done: Callable[[list[dict[str, Any]]], Any]
) -> list[dict[str, Any]]:
    """Events until ``done`` accepts all those seen so far (at most 10)."""
    seen: list[dict[str, Any]] = []
    for _ in range(10):
        seen.append(await events.next())
        if done(seen):
            return seen
    raise AssertionError(f"not seen: {seen}")


async def test_an_author_banned_meanwhile_is_not_published_by_the_recovery(
    serve: Serve,
) -> None:
    server = await serve(recover_interval_s=0.2)
    await use_classifier(server, FailingClassifier())
    async with server.client() as http:
        ana = await new_moderator(server, http)
        public = await open_public(server)
        troll = Guest("Troll")
        trolls = await posted(http, "a perfectly polite sentence", 202, guest=troll)
        kind = await posted(http, CLEAN, 202)
        r = await http.post(
            f"/api/v1/moderation/sites/news/authors/{troll.author_id}/ban",
            json={"reason": "spam elsewhere"},
            headers=bearer(ana.token),
        )
        assert r.status_code == 200, r.text

        await use_classifier(server, ProfanityCheckClassifier())
        # The recovery takes the oldest first: the troll's comment was decided before
        # the kind one was published.
        event = await public.next()
        assert event["type"] == "comment.published" and event["seq"] == 1
        assert event["comment"]["id"] == kind["id"]
        assert await listed_ids(http) == [kind["id"]]
        assert await ana.queue() == []
        decided = await server.node.store.get_comment(trolls["id"])
        assert decided.status == "rejected"
        await public.close()


async def test_held_for_another_reason_too_gets_real_scores_when_the_classifier_is_back(
    serve: Serve,
) -> None:
    server = await serve(site={"premoderated": True}, recover_interval_s=0.2)
    await use_classifier(server, FailingClassifier())
    async with server.client() as http:
        ana = await new_moderator(server, http)
        comment = await posted(http, CLEAN, 202)
        (item,) = await ana.queue()
        assert item["scores"] == {}
        assert item["reasons"] == ["classifier unavailable", "pre-moderated"]

        await use_classifier(server, ProfanityCheckClassifier())

        async def rescored() -> bool:
            items = await ana.queue()
            return bool(items) and items[0]["scores"] != {}

        await wait_until(rescored)
        (item,) = await ana.queue()
        assert item["id"] == comment["id"] and item["status"] == "held"
        assert set(item["scores"]) == {"profanity"}
        assert item["reasons"] == ["pre-moderated"]


class LateWeights(ProfanityCheckClassifier):
    """The bundled model, whose weights 'arrive' only once ``ready`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = threading.Event()
        self.attempts = 0

    def load(self) -> None:
        self.attempts += 1
        if not self.ready.is_set():
            raise ClassifierLoadError("weights not there yet")
        super().load()


async def test_a_classifier_that_failed_to_load_is_retried_and_the_held_published(
    serve: Serve,
) -> None:
    server = await serve(recover_interval_s=0.1)
    late = LateWeights()
    scorer = Scorer(MicroBatcher(late, timeout_s=5))
    scorer.retry_after_s = 0.1
    await scorer.load()
    await swap_scorer(server, scorer)
    assert scorer.status().state == "failed"
    async with server.client() as http:
        public = await open_public(server)
        held = await posted(http, CLEAN, 202)
        await wait_until(lambda: late.attempts >= 2)  # retried, still failing: held
        assert await listed_ids(http) == []

        late.ready.set()
        event = await public.next()
        assert event["type"] == "comment.published" and event["comment"]["id"] == held["id"]
        assert (await http.get("/readyz")).json()["classifier"]["state"] == "ok"
        await public.close()


async def test_comments_left_pending_by_a_crash_are_decided_at_start(
    database_url: str, channel_prefix: str, start_server: Any
) -> None:
    await add_site(database_url)
    store = create_store(database_url)
    try:
        author, _ = await store.create_guest("news", "Ana")
        made = {}
        for body in (CLEAN, TOXIC, "posted a moment ago"):
            comment, _ = await store.create_comment(
                site="news", article=ARTICLE, author=author, body=body, parent=None
            )
            assert comment.status == "pending"
            made[body] = comment.id
        # The first two were stored an hour ago by a node that died before deciding.
        for body in (CLEAN, TOXIC):
            await execute(
                store,
                "UPDATE comments SET created_at = :at WHERE id = :id",
                at=datetime.now(UTC) - timedelta(hours=1),
                id=made[body],
            )
    finally:
        await store.close()

    server = await start_server(
        mod_settings(database_url, "memory://", channel_prefix, recover_interval_s=0.2)
    )
    async with server.client() as http:
        ana = await new_moderator(server, http)
        await wait_until(lambda: _listed(http, [made[CLEAN]]))
        await wait_until(lambda: _rescored(ana.queue, made[TOXIC]))
        (item,) = await ana.queue()
        assert item["id"] == made[TOXIC] and item["reasons"] == [TOXIC_REASON]
        # Published as any comment: with the first seq, replayed to a new socket.
        replay = Events(await _connect(server, since=0))
        event = await replay.next()
        assert event["type"] == "comment.published" and event["seq"] == 1
        assert event["comment"]["id"] == made[CLEAN]
        await replay.close()
        # A post still in flight elsewhere is left to its own node.
        fresh = await server.node.store.get_comment(made["posted a moment ago"])
        assert fresh.status == "pending"


async def _listed(http: Any, ids: list[str]) -> bool:
    return await listed_ids(http) == ids


async def _connect(server: RunningServer, since: int) -> ClientConnection:
    return await websockets.connect(
        f"{server.ws_url}/ws/v1/sites/news/articles/{ARTICLE}?since={since}"
    )


async def test_concurrent_posts_share_classifier_calls(serve: Serve) -> None:
    server = await serve(classifier_batch_wait_ms=20)
    counting = CountingProfanity()
    await use_classifier(server, counting)
    async with server.client() as http:
        answers = await asyncio.gather(
            *(post(http, f"comment number {i}, a fair point") for i in range(20))
        )
        assert [r.status_code for r in answers] == [201] * 20, [r.text for r in answers]
        assert len(await listed_ids(http)) == 20
    assert sum(counting.batches) == 20
    assert len(counting.batches) < 20, counting.batches
