"""Erasure reaches what waits to leave, and the logs of what left (docs/api.md,
"Personal data"), on both databases: after erasing an author, neither their name, nor
their texts, nor their address, nor the ban's reason is anywhere in the webhook outbox,
the mail queue or the mail subscriptions; others' messages and mails are untouched."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from comments.models import Author, Comment, Status
from comments.moderation.erasure import erase_author
from comments.store import EventRow, Store
from comments.store.edits import EditStore
from comments.store.hook_tables import outbox
from comments.store.mail import MailStore
from comments.store.mail_tables import mail_queue, mail_subscriptions
from comments.store.review import ReviewStore
from comments.store.webhooks import WebhookStore

NAME = "Anastasia Quill"
TEXTS = ("quill first words", "quill edited words", "quill held words", "quill reply words")
ADDRESS = "anastasia@example.org"
REASON = "shouts in capitals"
SECRETS = (NAME, *TEXTS, ADDRESS, REASON)


async def dump(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of the three tables, every column."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with store.engine.connect() as conn:
        for table in (outbox, mail_queue, mail_subscriptions):
            rows = await conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            out[table.name] = [{k: str(v) for k, v in r._mapping.items()} for r in rows]
    return out


async def nothing(comment: Comment, event: EventRow | None) -> None:
    return None


# A signed-in reader's id is the partner's ``sub``: quotes, backslashes, LIKE's
# wildcards and non-ASCII must not hide their messages from the erasure.
ODD_ID = 'gq:ü "50%_off\\x'


@pytest.mark.parametrize("kind", ["guest", "sso"])
async def test_erasure_redacts_outbox_and_clears_mail_queue(store: Store, kind: str) -> None:
    assert await store.create_site("gq", {"guests": True})
    store.mail_digest_s = 600.0  # publications write reply-mail rows
    hooks = WebhookStore(store)
    await hooks.add("gq", "https://hooks.example/in", [])  # every event
    mail = MailStore(store)
    review = ReviewStore(store)
    if kind == "guest":
        ana, _ = await store.create_guest("gq", NAME)
    else:
        ana = Author(id=ODD_ID, name=NAME)
        await store.upsert_sso_author("gq", ana)
    bob, _ = await store.create_guest("gq", "Bob")
    await mail.subscribe("gq", ana.id, ADDRESS)
    await mail.subscribe("gq", bob.id, "bob@example.org")

    first, _ = await store.create_comment(
        site="gq", article="a", author=ana, body=TEXTS[0], parent=None, status=Status.PUBLISHED
    )
    # Its publication message leaves: the delivery log keeps it.
    claimed = await hooks.claim(10, timedelta(seconds=30))
    assert [json.loads(m.payload)["data"]["comment"]["id"] for m in claimed] == [first.id]
    await hooks.delivered(claimed[0], 200)
    edited = await EditStore(store).apply(first, TEXTS[1], Status.PUBLISHED, {})
    assert edited is not None
    await store.create_comment(
        site="gq", article="b", author=ana, body=TEXTS[2], parent=None, status=Status.HELD
    )
    bobs, _ = await store.create_comment(
        site="gq", article="a", author=bob, body="bob answers", parent=first.id,
        status=Status.PUBLISHED,
    )  # fmt: skip
    await store.create_comment(
        site="gq", article="a", author=ana, body=TEXTS[3], parent=bobs.id, status=Status.PUBLISHED
    )
    assert await review.ban("gq", ana.id, by="mo", reason=REASON, scope="author")
    # A mail to her already left: its row is the log of it.
    async with store.engine.begin() as conn:
        await conn.execute(
            sa.update(mail_queue)
            .where(mail_queue.c.author_id == ana.id)
            .values(status="sent", last_error=f"earlier: 451 {ADDRESS} greylisted")
        )

    before = await dump(store)
    text = json.dumps(before)
    assert [s for s in SECRETS if s in text] == list(SECRETS)  # the test sees them all
    msg_ids = [r["msg_id"] for r in before["outbox"]]

    erased = await erase_author(store, review, "gq", ana.id, actor="cli", announce=nothing)
    after = await dump(store)
    text = json.dumps(after)
    assert [s for s in SECRETS if s in text] == []
    assert ana.id not in str(after["mail_queue"] + after["mail_subscriptions"])
    # Her published and edited messages (one delivered), the held one, her reply's, the ban.
    assert erased.webhook_messages_redacted == 5
    # The mail to her deleted; hers to Bob (not yet sent) dropped.
    assert erased.mails_removed == 2
    # Rewritten in place, not lost: same messages in the same order, and more (removals).
    assert [r["msg_id"] for r in after["outbox"]][: len(msg_ids)] == msg_ids
    payloads = [json.loads(r["payload"]) for r in after["outbox"]]
    redacted = [p for p in payloads if p["type"] == "comment.redacted"]
    assert len(redacted) == 4
    assert all(set(p["data"]["comment"]) == {"id", "site", "article"} for p in redacted)
    assert {r["status"] for r in after["outbox"] if r["event"] == "comment.redacted"} == {
        "delivered",
        "pending",
    }
    ban = next(p for p in payloads if p["type"] == "author.banned")["data"]["ban"]
    assert (ban["author"], ban["name"], ban["reason"]) == (ana.id, "[erased]", "")
    # Bob's own message, address and pending mail are his; the mail of her reply is not.
    assert "bob answers" in text and "bob@example.org" in text
    to_bob = [r for r in after["mail_queue"] if r["author_id"] == bob.id]
    assert [r["status"] for r in to_bob] == ["dropped"]

    again = await erase_author(store, review, "gq", ana.id, actor="cli", announce=nothing)
    assert (again.webhook_messages_redacted, again.mails_removed) == (0, 0)
    assert await dump(store) == after
