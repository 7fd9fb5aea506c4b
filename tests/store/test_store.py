"""The store, on SQLite and on PostgreSQL (every test takes ``store`` or ``database_url``).

What readers and live sockets depend on is checked here against the real databases: one
seq per event of an article with no holes (also under concurrent writers, also from two
nodes), exactly one winner when moderators race, pages by keyset, the event log replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from comments.models import (
    Author,
    Comment,
    EventType,
    Status,
    published_event,
    redacted_event,
    removed_event,
    utcnow,
)
from comments.store import Store, StoreUnavailable, create_store
from comments.store.store import Change, EventRow, NotFound
from comments.store.tables import articles, authors, comments, events

SITE = "news"
_bodies = itertools.count(1)


@pytest.fixture
async def site(store: Store) -> str:
    assert await store.create_site(SITE, {"guests": True})
    return SITE


@pytest.fixture
async def ana(store: Store, site: str) -> Author:
    author, _token = await store.create_guest(site, "Ana")
    return author


async def post(
    store: Store,
    author: Author,
    article: str = "a1",
    *,
    status: Status = Status.PUBLISHED,
    parent: str | None = None,
    body: str | None = None,
    site: str = SITE,
) -> Comment:
    comment, _event = await store.create_comment(
        site=site,
        article=article,
        author=author,
        body=body if body is not None else f"comment {next(_bodies)}",
        parent=parent,
        status=status,
    )
    return comment


async def stored_events(store: Store, article: str, site: str = SITE) -> list[Any]:
    """The events table of one article, as rows (seq, type, comment_id, payload)."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(events.c.seq, events.c.type, events.c.comment_id, events.c.payload)
            .select_from(events.join(articles, events.c.article_id == articles.c.id))
            .where(articles.c.site == site, articles.c.key == article)
            .order_by(events.c.seq)
        )
        return list(rows)


async def last_seq(store: Store, article: str, site: str = SITE) -> int:
    row = await store.get_article(site, article)
    return 0 if row is None else row.last_seq


async def published_ids(store: Store, article: str, site: str = SITE) -> list[str]:
    page = await store.list_published(site, article, newest_first=False, cursor=None, limit=100)
    return [c.id for c in page.comments]


async def warm_pool(store: Store, n: int) -> None:
    """Open ``n`` pooled connections ahead, so that racing tasks start together instead
    of one finishing while the others are still connecting."""
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(n):
            conn = await stack.enter_async_context(store.engine.connect())
            await conn.execute(sa.text("SELECT 1"))


# -- sites ------------------------------------------------------------------------------


async def test_site_is_created_once(store: Store) -> None:
    assert await store.create_site("news", {"guests": True})
    assert not await store.create_site("news", {"guests": False})
    # The second create did not overwrite the first site's settings.
    assert await store.get_site("news") == {"guests": True}
    assert await store.get_site("unknown") is None


async def test_site_settings_round_trip(store: Store) -> None:
    settings: dict[str, Any] = {
        "origins": ["https://partner.example", "http://localhost:8080"],
        "guests": False,
        "sso_secrets": ["old", "new"],
        "thresholds": {"toxicity": 0.8, "insult": 0.75},
        "banned_words": ["хрень", "merde"],
        "posts_per_minute_per_author": 0,
        "premoderated": None,
    }
    await store.create_site("news", settings)
    assert await store.get_site("news") == settings

    changed = {**settings, "guests": True, "banned_words": [], "new_knob": {"a": [1, 2.5]}}
    await store.save_site("news", changed)
    assert await store.get_site("news") == changed
    with pytest.raises(NotFound):
        await store.save_site("unknown", changed)
    assert await store.get_site("unknown") is None


async def test_list_sites(store: Store) -> None:
    assert await store.list_sites() == []
    for slug in ("zeta", "news", "a-1"):
        await store.create_site(slug, {})
    assert await store.list_sites() == ["a-1", "news", "zeta"]


# -- guests -----------------------------------------------------------------------------


async def test_guest_token_proves_the_guest_on_its_site_only(store: Store, site: str) -> None:
    await store.create_site("other", {"guests": True})
    ana, ana_token = await store.create_guest(site, "Ana")
    bob, bob_token = await store.create_guest(site, "Bob")
    assert ana.name == "Ana" and ana.id != bob.id
    assert len(ana_token) >= 20 and ana_token != bob_token

    assert await store.guest_by_token(site, ana_token) == ana
    assert await store.guest_by_token(site, bob_token) == bob
    assert await store.guest_by_token(site, ana_token + "x") is None
    assert await store.guest_by_token(site, "") is None
    assert await store.guest_by_token("other", ana_token) is None


async def test_guest_token_is_not_stored_in_clear(store: Store, site: str) -> None:
    _author, token = await store.create_guest(site, "Ana")
    async with store.engine.connect() as conn:
        rows = (await conn.execute(sa.select(authors))).all()
    assert len(rows) == 1
    for value in rows[0]:
        assert token not in str(value)


# -- comments ---------------------------------------------------------------------------


async def test_pending_comment_is_stored_without_seq_or_event(store: Store, ana: Author) -> None:
    body = '  <b>multi</b>\nline — ünïcode 🙂 & "quotes"\t'
    comment, event = await store.create_comment(
        site=SITE, article="2025/07/lavrov-kim", author=ana, body=body, parent=None
    )
    assert event is None
    assert comment.status is Status.PENDING and comment.seq is None
    assert comment.site == SITE and comment.article == "2025/07/lavrov-kim"
    assert comment.author == ana and comment.body == body

    stored = await store.get_comment(comment.id)
    assert stored is not None
    assert stored.to_json() == comment.to_json()
    assert await published_ids(store, "2025/07/lavrov-kim") == []
    assert await stored_events(store, "2025/07/lavrov-kim") == []
    assert await last_seq(store, "2025/07/lavrov-kim") == 0


async def test_published_comments_take_seqs_per_article(store: Store, ana: Author) -> None:
    a = [await post(store, ana, "a") for _ in range(3)]
    b = [await post(store, ana, "b") for _ in range(2)]
    a.append(await post(store, ana, "a"))
    assert [c.seq for c in a] == [1, 2, 3, 4]
    assert [c.seq for c in b] == [1, 2]
    assert all(c.status is Status.PUBLISHED for c in a + b)

    rows = await stored_events(store, "a")
    assert [(r.seq, r.type, r.comment_id) for r in rows] == [
        (c.seq, "comment.published", c.id) for c in a
    ]
    for row, comment in zip(rows, a, strict=True):
        assert row.payload == published_event(row.seq, comment)
    assert await last_seq(store, "a") == 4 and await last_seq(store, "b") == 2


async def test_held_comment_takes_no_seq(store: Store, ana: Author) -> None:
    held = await post(store, ana, "a", status=Status.HELD)
    assert held.status is Status.HELD and held.seq is None
    assert await stored_events(store, "a") == []
    published = await post(store, ana, "a")
    assert published.seq == 1


async def test_comment_with_published_parent(store: Store, ana: Author) -> None:
    parent = await post(store, ana, "a")
    reply = await post(store, ana, "a", parent=parent.id)
    assert reply.parent == parent.id
    stored = await store.get_comment(reply.id)
    assert stored is not None and stored.parent == parent.id


@pytest.mark.parametrize(
    "parent_kind",
    ["unknown", "other-article", "other-site", "held", "pending", "rejected"],
)
async def test_parent_must_be_published_in_the_same_article(
    store: Store, ana: Author, parent_kind: str
) -> None:
    await store.create_site("other", {})
    other_author, _ = await store.create_guest("other", "Otto")
    parents = {
        "unknown": "no-such-comment",
        "other-article": (await post(store, ana, "b")).id,
        "other-site": (await post(store, other_author, "a", site="other")).id,
        "held": (await post(store, ana, "a", status=Status.HELD)).id,
        "pending": (await post(store, ana, "a", status=Status.PENDING)).id,
        "rejected": (await post(store, ana, "a", status=Status.REJECTED)).id,
    }
    seq_before = await last_seq(store, "a")
    with pytest.raises(NotFound):
        await post(store, ana, "a", parent=parents[parent_kind])
    # Nothing of the refused comment was kept.
    assert await last_seq(store, "a") == seq_before
    async with store.engine.connect() as conn:
        n = (await conn.execute(sa.select(sa.func.count()).select_from(comments))).scalar()
    assert n == len(parents) - 1


# -- transitions ------------------------------------------------------------------------


async def test_publishing_a_pending_comment_writes_its_event(store: Store, ana: Author) -> None:
    await post(store, ana, "a")  # seq 1
    pending = await post(store, ana, "a", status=Status.PENDING)

    change = await store.transition(pending.id, Status.PUBLISHED, allowed_from=[Status.PENDING])
    assert isinstance(change, Change)
    assert change.previous is Status.PENDING
    assert change.comment.status is Status.PUBLISHED and change.comment.seq == 2
    assert change.event is not None and change.event.seq == 2

    stored = await store.get_comment(pending.id)
    assert stored is not None and stored.seq == 2
    # The event is the exact wire JSON of the comment as readers now get it.
    assert change.event.payload == published_event(2, change.comment)
    assert json.loads(change.event.payload) == {
        "type": "comment.published",
        "seq": 2,
        "comment": stored.to_json(),
    }
    rows = await stored_events(store, "a")
    assert [(r.seq, r.type, r.comment_id) for r in rows][-1] == (
        2,
        "comment.published",
        pending.id,
    )
    assert rows[-1].payload == change.event.payload
    assert await published_ids(store, "a") == [rows[0].comment_id, pending.id]


@pytest.mark.parametrize("to", [Status.REJECTED, Status.DELETED])
async def test_withdrawing_a_published_comment_writes_removed(
    store: Store, ana: Author, to: Status
) -> None:
    kept = await post(store, ana, "a")
    gone = await post(store, ana, "a")
    change = await store.transition(gone.id, to, allowed_from=[Status.PUBLISHED, Status.HELD])
    assert change is not None
    assert change.previous is Status.PUBLISHED
    assert change.comment.status is to and change.comment.seq is None
    assert change.event == EventRow(seq=3, payload=removed_event(3, gone.id))
    assert json.loads(change.event.payload) == {
        "type": "comment.removed",
        "seq": 3,
        "id": gone.id,
    }

    # Its publication is redacted in the same transaction: same seq, no body or author.
    rows = await stored_events(store, "a")
    assert [(r.seq, r.type, r.comment_id) for r in rows] == [
        (1, "comment.published", kept.id),
        (2, "comment.redacted", gone.id),
        (3, "comment.removed", gone.id),
    ]
    assert rows[1].payload == redacted_event(2, gone.id)
    assert json.loads(rows[1].payload) == {"type": "comment.redacted", "seq": 2, "id": gone.id}
    assert kept.body in rows[0].payload
    stored = await store.get_comment(gone.id)
    assert stored is not None and stored.status is to
    assert await published_ids(store, "a") == [kept.id]
    assert await store.counts(SITE, ["a"]) == {"a": 1}
    assert await last_seq(store, "a") == 3


async def test_a_rejected_comment_approved_again_gets_a_new_event_the_old_stays_redacted(
    store: Store, ana: Author
) -> None:
    c = await post(store, ana, "a")
    for to, allowed in (
        (Status.REJECTED, [Status.PUBLISHED]),
        (Status.PUBLISHED, [Status.REJECTED]),
        (Status.REJECTED, [Status.PUBLISHED]),
        (Status.PUBLISHED, [Status.REJECTED]),
    ):
        assert await store.transition(c.id, to, allowed_from=allowed) is not None
    rows = await stored_events(store, "a")
    assert [(r.seq, r.type) for r in rows] == [
        (1, "comment.redacted"),
        (2, "comment.removed"),
        (3, "comment.redacted"),
        (4, "comment.removed"),
        (5, "comment.published"),
    ]
    assert c.body in rows[-1].payload
    assert [r.payload for r in rows[:4]] == [
        redacted_event(1, c.id),
        removed_event(2, c.id),
        redacted_event(3, c.id),
        removed_event(4, c.id),
    ]
    again = await store.get_comment(c.id)
    assert again is not None and again.seq == 5


async def test_deciding_an_unpublished_comment_writes_no_event(store: Store, ana: Author) -> None:
    held = await post(store, ana, "a", status=Status.HELD)
    change = await store.transition(held.id, Status.REJECTED, allowed_from=[Status.HELD])
    assert change is not None and change.event is None
    assert change.comment.status is Status.REJECTED
    assert await stored_events(store, "a") == []

    # A rejected comment approved later is published with the next seq.
    approved = await store.transition(
        held.id, Status.PUBLISHED, allowed_from=[Status.HELD, Status.REJECTED]
    )
    assert approved is not None and approved.comment.seq == 1
    assert approved.previous is Status.REJECTED


async def test_transition_sets_other_columns_with_the_status(store: Store, ana: Author) -> None:
    pending = await post(store, ana, "a", status=Status.PENDING)
    change = await store.transition(
        pending.id,
        Status.HELD,
        allowed_from=[Status.PENDING],
        values={"scores": '{"toxicity": 0.97}', "reasons": '["toxicity 0.97 ≥ 0.80"]'},
    )
    assert change is not None and change.comment.status is Status.HELD
    async with store.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(comments.c.status, comments.c.scores, comments.c.reasons).where(
                    comments.c.id == pending.id
                )
            )
        ).one()
    assert tuple(row) == ("held", '{"toxicity": 0.97}', '["toxicity 0.97 ≥ 0.80"]')


@pytest.mark.parametrize(
    ("initial", "to", "allowed_from"),
    [
        pytest.param(Status.HELD, Status.PUBLISHED, [Status.PENDING], id="held-to-published"),
        pytest.param(Status.PUBLISHED, Status.REJECTED, [Status.HELD], id="published-to-rejected"),
        pytest.param(
            Status.REJECTED, Status.REJECTED, [Status.HELD, Status.PUBLISHED], id="rejected-again"
        ),
        pytest.param(Status.PENDING, Status.DELETED, [Status.PUBLISHED], id="pending-to-deleted"),
    ],
)
async def test_transition_not_allowed_changes_nothing(
    store: Store, ana: Author, initial: Status, to: Status, allowed_from: list[Status]
) -> None:
    await post(store, ana, "a")
    comment = await post(store, ana, "a", status=initial)
    before = await store.get_comment(comment.id)
    events_before = await stored_events(store, "a")

    change = await store.transition(
        comment.id, to, allowed_from=allowed_from, values={"scores": '{"x": 1}'}
    )
    assert change is None
    assert await store.get_comment(comment.id) == before
    assert await stored_events(store, "a") == events_before
    async with store.engine.connect() as conn:
        scores = (
            await conn.execute(sa.select(comments.c.scores).where(comments.c.id == comment.id))
        ).scalar()
    assert scores is None


async def test_transition_of_an_unknown_comment(store: Store, site: str) -> None:
    with pytest.raises(NotFound):
        await store.transition("nope", Status.PUBLISHED, allowed_from=[Status.PENDING])


@pytest.mark.parametrize(
    ("initial", "to", "allowed_from", "event_type"),
    [
        pytest.param(
            Status.PENDING, Status.PUBLISHED, [Status.PENDING], "comment.published", id="publish"
        ),
        pytest.param(
            Status.PUBLISHED,
            Status.REJECTED,
            [Status.HELD, Status.PUBLISHED],
            "comment.removed",
            id="reject",
        ),
    ],
)
async def test_racing_transitions_have_one_winner(
    store: Store,
    ana: Author,
    initial: Status,
    to: Status,
    allowed_from: list[Status],
    event_type: str,
) -> None:
    comment = await post(store, ana, "a", status=initial)
    events_before = len(await stored_events(store, "a"))

    await warm_pool(store, 10)
    results = await asyncio.gather(
        *(store.transition(comment.id, to, allowed_from=allowed_from) for _ in range(10))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    rows = await stored_events(store, "a")
    assert len(rows) == events_before + 1
    assert (rows[-1].type, rows[-1].comment_id) == (event_type, comment.id)
    assert winners[0].event is not None and winners[0].event.seq == rows[-1].seq


# -- concurrent writers -----------------------------------------------------------------


def assert_contiguous(seqs: list[int], rows: list[Any], n: int) -> None:
    assert sorted(seqs) == list(range(1, n + 1))
    assert [r.seq for r in rows] == list(range(1, n + 1))


async def test_concurrent_publishes_get_contiguous_seqs(store: Store, ana: Author) -> None:
    n = 50
    created = await asyncio.gather(*(post(store, ana, "hot") for _ in range(n)))
    assert_contiguous([c.seq for c in created if c.seq], await stored_events(store, "hot"), n)
    rows = await stored_events(store, "hot")
    by_id = {c.id: c for c in created}
    for row in rows:
        assert row.payload == published_event(row.seq, by_id[row.comment_id])
    assert await last_seq(store, "hot") == n
    assert len(await published_ids(store, "hot")) == n


async def test_concurrent_creates_and_transitions_share_one_sequence(
    store: Store, ana: Author
) -> None:
    pending = [await post(store, ana, "hot", status=Status.PENDING) for _ in range(20)]
    early = [await post(store, ana, "hot") for _ in range(5)]  # seqs 1..5
    results = await asyncio.gather(
        *(store.transition(p.id, Status.PUBLISHED, allowed_from=[Status.PENDING]) for p in pending),
        *(store.transition(c.id, Status.REJECTED, allowed_from=[Status.PUBLISHED]) for c in early),
        *(post(store, ana, "hot") for _ in range(20)),
    )
    assert all(r is not None for r in results)
    rows = await stored_events(store, "hot")
    n = 5 + 20 + 5 + 20
    assert [r.seq for r in rows] == list(range(1, n + 1))
    assert sum(r.type == "comment.removed" for r in rows) == 5
    assert await last_seq(store, "hot") == n
    assert await store.counts(SITE, ["hot"]) == {"hot": 40}


@pytest.fixture
async def second_store(database_url: str, store: Store) -> AsyncIterator[Store]:
    """Another Store on the same database: its own engine and pool, like a second node."""
    other = create_store(database_url)
    yield other
    await other.close()


async def test_two_nodes_publishing_into_one_article(
    store: Store, second_store: Store, ana: Author
) -> None:
    # On PostgreSQL these are two nodes; on SQLite, the server and a CLI command writing
    # the same file (the only sharing SQLite is meant for), serialised by busy_timeout.
    n = 60
    created = await asyncio.gather(
        *(post(store if i % 2 else second_store, ana, "hot") for i in range(n)),
        # The article's very first comments race from both nodes too.
        *(post(store if i % 2 else second_store, ana, f"new-{i // 2}") for i in range(10)),
    )
    hot = [c for c in created if c.article == "hot"]
    assert_contiguous([c.seq for c in hot if c.seq], await stored_events(store, "hot"), n)
    for i in range(5):
        rows = await stored_events(second_store, f"new-{i}")
        assert [r.seq for r in rows] == [1, 2]
    assert await last_seq(second_store, "hot") == n


# -- pages ------------------------------------------------------------------------------


@pytest.fixture
async def thread(store: Store, ana: Author) -> list[Comment]:
    """Article "a" with 9 published comments among removed and undecided ones; returns
    the published ones in seq order."""
    await store.create_site("other", {})
    otto, _ = await store.create_guest("other", "Otto")
    first = [await post(store, ana, "a") for _ in range(10)]  # seqs 1..10
    await store.transition(first[2].id, Status.REJECTED, allowed_from=[Status.PUBLISHED])
    await store.transition(first[6].id, Status.DELETED, allowed_from=[Status.PUBLISHED])
    await post(store, ana, "a", status=Status.HELD)
    await post(store, ana, "a", status=Status.PENDING)
    await post(store, ana, "a", status=Status.REJECTED)
    await post(store, ana, "b")
    await post(store, otto, "a", site="other")
    last = await post(store, ana, "a")  # seq 13
    published = [c for i, c in enumerate(first) if i not in (2, 6)] + [last]
    assert [c.seq for c in published] == [1, 2, 4, 5, 6, 8, 9, 10, 13]
    return published


async def walk(store: Store, *, newest_first: bool, limit: int) -> list[Comment]:
    seen: list[Comment] = []
    cursor: int | None = None
    for _ in range(50):
        page = await store.list_published(
            SITE, "a", newest_first=newest_first, cursor=cursor, limit=limit
        )
        assert page.latest_seq == 13
        assert len(page.comments) <= limit
        seen.extend(page.comments)
        if page.next is None:
            return seen
        # More follow: the page is full and the cursor is its last comment's seq.
        assert len(page.comments) == limit
        assert page.next == page.comments[-1].seq
        cursor = page.next
    raise AssertionError("pagination did not end")


LIMITS = [
    pytest.param(1, id="limit-1"),
    pytest.param(3, id="limit-3-exact-multiple"),
    pytest.param(4, id="limit-4"),
    pytest.param(9, id="limit-9-one-full-page"),
    pytest.param(100, id="limit-100"),
]


@pytest.mark.parametrize("limit", LIMITS)
async def test_oldest_first_pages_walk_every_comment_once(
    store: Store, thread: list[Comment], limit: int
) -> None:
    seen = await walk(store, newest_first=False, limit=limit)
    assert [c.id for c in seen] == [c.id for c in thread]
    assert [c.to_json() for c in seen] == [c.to_json() for c in thread]


@pytest.mark.parametrize("limit", LIMITS)
async def test_newest_first_pages_walk_every_comment_once(
    store: Store, thread: list[Comment], limit: int
) -> None:
    seen = await walk(store, newest_first=True, limit=limit)
    assert [c.id for c in seen] == [c.id for c in reversed(thread)]


async def test_page_from_a_cursor(store: Store, thread: list[Comment]) -> None:
    after = await store.list_published(SITE, "a", newest_first=False, cursor=4, limit=2)
    assert [c.seq for c in after.comments] == [5, 6] and after.next == 6
    before = await store.list_published(SITE, "a", newest_first=True, cursor=8, limit=2)
    assert [c.seq for c in before.comments] == [6, 5] and before.next == 5
    end = await store.list_published(SITE, "a", newest_first=False, cursor=13, limit=2)
    assert end.comments == [] and end.next is None and end.latest_seq == 13


async def test_unknown_article_is_an_empty_page(store: Store, site: str) -> None:
    for newest_first in (False, True):
        page = await store.list_published(
            SITE, "never/commented", newest_first=newest_first, cursor=None, limit=50
        )
        assert (page.comments, page.next, page.latest_seq) == ([], None, 0)
    assert await store.get_article(SITE, "never/commented") is None


@pytest.fixture
def statements(store: Store) -> Iterator[list[tuple[str, Any]]]:
    """Every SQL statement the store sends while the test runs, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(store.engine.sync_engine, "before_cursor_execute", record)


async def test_pages_are_read_by_keyset_not_offset(
    store: Store, thread: list[Comment], statements: list[tuple[str, Any]]
) -> None:
    await walk(store, newest_first=False, limit=2)
    await walk(store, newest_first=True, limit=2)
    listed = [(s, p) for s, p in statements if "LIMIT" in s.upper()]
    assert len(listed) >= 10
    for statement, parameters in listed:
        if "OFFSET" in statement.upper():
            # SQLAlchemy's SQLite dialect writes "LIMIT ? OFFSET ?" even without an
            # offset, binding 0: harmless. Any other offset would be a page skipped by
            # counting rows.
            assert statement.rstrip().endswith("OFFSET ?") and parameters[-1] == 0, statement


# -- events, counts, duplicates, article state -------------------------------------------


async def test_events_since_replays_the_log(store: Store, ana: Author) -> None:
    await store.create_site("other", {})
    otto, _ = await store.create_guest("other", "Otto")
    written: list[EventRow] = []
    for _ in range(4):
        _c, ev = await store.create_comment(
            site=SITE,
            article="a",
            author=ana,
            body=f"b{next(_bodies)}",
            parent=None,
            status=Status.PUBLISHED,
        )
        assert ev is not None
        written.append(ev)
    change = await store.transition(
        (await published_ids(store, "a"))[1], Status.REJECTED, allowed_from=[Status.PUBLISHED]
    )
    assert change is not None and change.event is not None
    written.append(change.event)
    # The rejected comment's publication is served redacted from now on (same seq).
    written[1] = EventRow(seq=2, payload=redacted_event(2, change.comment.id))
    await post(store, ana, "b")
    await post(store, otto, "a", site="other")

    assert await store.events_since(SITE, "a", 0, limit=100) == written
    assert [json.loads(e.payload)["type"] for e in written] == [
        str(EventType.PUBLISHED),
        str(EventType.REDACTED),
        str(EventType.PUBLISHED),
        str(EventType.PUBLISHED),
        str(EventType.REMOVED),
    ]
    assert await store.events_since(SITE, "a", 2, limit=2) == written[2:4]
    assert await store.events_since(SITE, "a", 1, limit=100, until=3) == written[1:3]
    assert await store.events_since(SITE, "a", 0, limit=100, until=0) == []
    assert await store.events_since(SITE, "a", 5, limit=100) == []
    assert await store.events_since(SITE, "unknown", 0, limit=100) == []
    other = await store.events_since("other", "a", 0, limit=100)
    assert [e.seq for e in other] == [1]


async def test_counts_published_comments(store: Store, ana: Author) -> None:
    await store.create_site("other", {})
    otto, _ = await store.create_guest("other", "Otto")
    for _ in range(3):
        await post(store, ana, "a")
    await post(store, ana, "a", status=Status.HELD)
    await post(store, ana, "a", status=Status.PENDING)
    gone = await post(store, ana, "a")
    await store.transition(gone.id, Status.DELETED, allowed_from=[Status.PUBLISHED])
    await post(store, ana, "b")
    await post(store, ana, "c", status=Status.HELD)
    await post(store, otto, "a", site="other")

    assert await store.counts(SITE, ["a", "b", "c", "unknown", "2025/07/x"]) == {
        "a": 3,
        "b": 1,
        "c": 0,
        "unknown": 0,
        "2025/07/x": 0,
    }
    assert await store.counts("other", ["a", "b"]) == {"a": 1, "b": 0}
    assert await store.counts(SITE, []) == {}
    assert await store.latest_seqs(SITE, ["a", "b", "c", "unknown"]) == {
        "a": 5,
        "b": 1,
        "c": 0,
    }


async def age(store: Store, comment_id: str, by: timedelta) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(
            sa.update(comments).where(comments.c.id == comment_id).values(created_at=utcnow() - by)
        )


async def test_is_duplicate_within_the_window(store: Store, ana: Author, site: str) -> None:
    bob, _ = await store.create_guest(site, "Bob")
    minute = timedelta(minutes=1)
    first = await post(store, ana, "a", body="same text")
    assert await store.is_duplicate(ana.id, "same text", minute)
    assert not await store.is_duplicate(ana.id, "other text", minute)
    assert not await store.is_duplicate(bob.id, "same text", minute)
    # Any article counts: the same text pasted under every article is the spam case.
    held = await post(store, ana, "b", body="held text", status=Status.HELD)
    assert await store.is_duplicate(ana.id, "held text", minute)

    await age(store, first.id, timedelta(minutes=2))
    assert not await store.is_duplicate(ana.id, "same text", minute)
    assert await store.is_duplicate(ana.id, "same text", timedelta(minutes=3))

    # A comment withdrawn or refused does not block its text.
    await store.transition(held.id, Status.REJECTED, allowed_from=[Status.HELD])
    assert not await store.is_duplicate(ana.id, "held text", minute)


async def test_set_article_state(store: Store, ana: Author) -> None:
    row = await store.set_article_state(SITE, "fresh", closed=True)
    assert (row.closed, row.premoderated, row.last_seq) == (True, False, 0)
    row = await store.set_article_state(SITE, "fresh", premoderated=True)
    assert (row.closed, row.premoderated) == (True, True)
    row = await store.set_article_state(SITE, "fresh", closed=False)
    assert (row.closed, row.premoderated) == (False, True)
    row = await store.set_article_state(SITE, "fresh")
    assert (row.closed, row.premoderated) == (False, True)
    assert await store.get_article(SITE, "fresh") == row

    for _ in range(2):
        await post(store, ana, "busy")
    row = await store.set_article_state(SITE, "busy", closed=True)
    assert (row.closed, row.last_seq) == (True, 2)
    # Closing an article keeps what it shows.
    assert len(await published_ids(store, "busy")) == 2


ARTICLE_IDS = [
    pytest.param("2025/07/lavrov-kim", id="slashes"),
    pytest.param("x" * 200, id="200-chars"),
    pytest.param("статья?id=1&x=%20 #frag", id="unicode-and-url-chars"),
]


@pytest.mark.parametrize("article", ARTICLE_IDS)
async def test_article_ids_are_kept_exactly(store: Store, ana: Author, article: str) -> None:
    comment = await post(store, ana, article)
    page = await store.list_published(SITE, article, newest_first=False, cursor=None, limit=10)
    assert [c.article for c in page.comments] == [article]
    assert page.comments[0].id == comment.id
    assert await store.counts(SITE, [article]) == {article: 1}


# -- an unreachable database ------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_unreachable_postgres_raises_store_unavailable() -> None:
    # (Not repeated on SQLite: a file that cannot be opened is a set-up error, not an
    # outage, and aiosqlite's failed-connect thread outlives the test's loop.)
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/comments"
    store = create_store(url)
    try:
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(store.ping(), 30)
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(store.create_site("news", {}), 30)
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(
                store.list_published(SITE, "a", newest_first=False, cursor=None, limit=10), 30
            )
    finally:
        await store.close()


async def test_exhausted_pool_raises_store_unavailable(postgres_url: str) -> None:
    # Every connection busy (a stalled database, or a burst beyond the pool): callers
    # get StoreUnavailable (a 503), not a raw pool error (a 500). PostgreSQL only:
    # SQLite writers queue on the store's own lock instead.
    store = create_store(postgres_url, pool_size=1, pool_timeout=0.2)
    try:
        async with store.engine.connect() as a, store.engine.connect() as b:
            await a.execute(sa.text("SELECT 1"))
            await b.execute(sa.text("SELECT 1"))
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(store.ping(), 30)
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(store.create_site("news", {}), 30)
        # Once connections are free again the store serves.
        await store.ping()
        assert await store.create_site("news", {})
    finally:
        await store.close()
