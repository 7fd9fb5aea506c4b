"""Erasure's use case on both databases (docs/api.md, "Personal data"): every status is
withdrawn, what remains is overwritten, the ban stays in force without its reason and
network keys, reports keep counting under no one's name, notes lose their text, and a
second run changes nothing."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from comments.errors import Refused
from comments.models import Comment, Status, utcnow
from comments.moderation.erasure import erase_author
from comments.store import EventRow, Store
from comments.store.edit_tables import comment_versions
from comments.store.mail_tables import mail_subscriptions
from comments.store.personal import export_author
from comments.store.reaction_tables import reactions
from comments.store.reactions import ReactionStore
from comments.store.review import ReviewStore
from comments.store.review_tables import audit, reports
from comments.store.tables import authors, comments

SECRETS = (
    "Ana",
    "mine",
    "held one",
    "old text",
    "rude",
    "rude again",
    "ana@example.org",
    "talks too much",
    "f" * 64,
)


async def test_erase_overwrites_everything_personal_and_twice_is_fine(store: Store) -> None:
    assert await store.create_site("gd", {"guests": True})
    review = ReviewStore(store)
    ana, _ = await store.create_guest("gd", "Ana")
    bob, _ = await store.create_guest("gd", "Bob")
    mine, _ = await store.create_comment(
        site="gd", article="a", author=ana, body="mine", parent=None, status=Status.PUBLISHED
    )
    by_status = {}
    for status in (Status.HELD, Status.PENDING, Status.REJECTED, Status.SHADOWED):
        made, _ = await store.create_comment(
            site="gd", article="a", author=ana, body="held one", parent=None, status=status
        )
        by_status[status] = made.id
    reply, _ = await store.create_comment(
        site="gd", article="a", author=bob, body="theirs", parent=mine.id, status=Status.PUBLISHED
    )
    await review.add_report(reply.id, ana.id, "rude")
    liked = await ReactionStore(store).react("gd", "a", reply.id, ana.id, like=True)
    assert liked is not None and liked.reactions == 1
    async with store.engine.begin() as conn:
        await conn.execute(sa.update(comments).values(network_key="f" * 64))
        now = utcnow()
        await conn.execute(
            sa.insert(comment_versions).values(
                comment_id=mine.id, body="old text", written_at=now, replaced_at=now
            )
        )
        await conn.execute(
            sa.insert(mail_subscriptions).values(
                site="gd", author_id=ana.id, email="ana@example.org", created_at=now
            )
        )
    await review.audit("gd", "mo", "note", f"author:{ana.id}", {"body": "talks too much"})
    ban = {"scope": "author", "reason": "rude again"}
    await review.audit("gd", "mo", "ban", f"author:{ana.id}", {"old": None, "new": ban})
    assert await review.ban("gd", ana.id, by="mo", reason="rude", scope="author+network")
    before = json.dumps(await export_author(store, "gd", ana.id))
    assert [s for s in SECRETS if s in before] == [s for s in SECRETS if s != "f" * 64]

    told: list[tuple[str, EventRow | None]] = []

    async def announce(comment: Comment, event: EventRow | None) -> None:
        told.append((comment.id, event))

    erased = await erase_author(store, review, "gd", ana.id, actor="cli", announce=announce)
    assert (erased.withdrawn, erased.removed) == (1, 4)
    assert (erased.comments_overwritten, erased.versions_deleted) == (5, 1)
    assert (erased.reports_anonymised, erased.networks_deleted, erased.audit_texts_cleared) == (
        1,
        1,
        2,
    )
    assert [e is not None for _, e in told].count(True) == 1

    async with store.engine.connect() as conn:
        rows = (await conn.execute(sa.select(comments).where(comments.c.author_id == ana.id))).all()
        assert {r.status for r in rows} == {"deleted"}
        assert {(r.body, r.author_name, r.network_key) for r in rows} == {("", "[erased]", None)}
        who = (await conn.execute(sa.select(authors).where(authors.c.id == ana.id))).one()
        assert (who.name, who.guest_token_hash, who.banned, who.ban_reason) == (
            "[erased]",
            None,
            True,
            None,
        )
        reporters = (await conn.execute(sa.select(reports.c.reporter))).scalars().all()
        assert [r.startswith("erased:") for r in reporters] == [True]
        bob_row = (await conn.execute(sa.select(comments).where(comments.c.id == reply.id))).one()
        assert (bob_row.body, bob_row.reports, bob_row.status) == ("theirs", 1, "published")
        # Her like still counts, under a reader id that names nobody.
        assert bob_row.reactions == 1
        likers = (await conn.execute(sa.select(reactions.c.author_id))).scalars().all()
        assert [r.startswith("erased:") for r in likers] == [True]
        entries = (await conn.execute(sa.select(audit.c.action, audit.c.detail))).all()
    assert [a for a, _ in entries].count("erase") == 1
    exported = json.dumps(await export_author(store, "gd", ana.id))
    assert [s for s in SECRETS if s in exported] == []

    again = await erase_author(store, review, "gd", ana.id, actor="cli", announce=announce)
    counts = again.to_json()
    assert [counts[k] for k in counts if k not in ("site", "author")] == [0] * 11
    with pytest.raises(Refused):
        await erase_author(store, review, "gd", "g_nobody", actor="cli", announce=announce)
