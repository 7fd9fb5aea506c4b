"""Reply e-mails from the store to a real SMTP server (aiosmtpd) started here, on SQLite
and PostgreSQL: the mail row is written with the reply's publication (not for held,
shadowed or one's own replies; yes when a held reply is approved), several replies make
one digest, a refusing server gets the mail later, the hourly limit holds."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from comments.integrations.mail import SmtpConfig, read_unsubscribe_token
from comments.integrations.mail_sender import MailPolicy, MailSender
from comments.models import Author, Comment, Status
from comments.store import Store
from comments.store.mail import MailStore
from comments.store.mail_tables import mail_queue
from tests.conftest import wait_until
from tests.integrations.test_mail import Inbox, certificate, serve

SECRET = b"s" * 32
__all__ = ["certificate"]  # the fixture, shared with test_mail


@pytest.fixture
async def inbox() -> AsyncIterator[tuple[Inbox, int]]:
    box = Inbox()
    for port in serve(box):
        yield box, port


def sender(store: Store, port: int, **policy: Any) -> MailSender:
    options: dict[str, Any] = {"poll_s": 0.02, "backoff_base_s": 0.05, **policy}
    smtp = SmtpConfig("127.0.0.1", port, timeout_s=5)
    return MailSender(
        MailStore(store), MailPolicy(smtp, "c@n.example", "https://c.example", **options), SECRET
    )


async def post(
    store: Store, author: Author, body: str, parent: str | None = None, **kw: Any
) -> Comment:
    comment, _ = await store.create_comment(
        site="news",
        article="a",
        author=author,
        body=body,
        parent=parent,
        status=kw.pop("status", Status.PUBLISHED),
    )
    return comment


async def queue(store: Store) -> list[Any]:
    async with store.engine.connect() as conn:
        return list(await conn.execute(sa.select(mail_queue).order_by(mail_queue.c.id)))


@pytest.fixture
async def world(store: Store) -> tuple[Author, Author, Comment]:
    """Ana (subscribed) wrote a comment; Bo will answer it."""
    await store.create_site("news", {})
    store.mail_digest_s = 0.0
    ana, _ = await store.create_guest("news", "Ana")
    bo, _ = await store.create_guest("news", "Bo")
    await MailStore(store).subscribe("news", ana.id, "ana@example.org")
    parent = await post(store, ana, "first")
    return ana, bo, parent


def driving(mails: MailSender, done: Any, store: Store) -> Any:
    """A condition that runs one sending pass before it looks."""

    async def check() -> bool:
        await mails.run_once()
        return bool(await done(store))

    return check


def text(message: Any) -> str:
    return str(message.get_payload(decode=True).decode().replace("\r\n", "\n"))


async def test_a_reply_sends_one_mail_with_text_permalink_and_unsubscribe(
    store: Store, world: tuple[Author, Author, Comment], inbox: tuple[Inbox, int]
) -> None:
    ana, bo, parent = world
    box, port = inbox
    reply = await post(store, bo, "I disagree\nstrongly", parent.id)
    mails = sender(store, port)
    await wait_until(mails.run_once, timeout=10)
    (got,) = box.messages
    assert got["To"] == "ana@example.org" and got["Subject"] == "Bo replied to you on a"
    body = text(got)
    assert "I disagree\nstrongly" in body
    assert f"/api/v1/sites/news/articles/a/comments/{reply.id}/context" in body
    link = got["List-Unsubscribe"].strip("<>")
    token = link.split("token=", 1)[1]
    assert read_unsubscribe_token(SECRET, token) == ("news", ana.id)
    assert await mails.run_once() == 0 and len(box.messages) == 1  # sent once


async def test_two_quick_replies_make_one_digest(
    store: Store, world: tuple[Author, Author, Comment], inbox: tuple[Inbox, int]
) -> None:
    _, bo, parent = world
    box, port = inbox
    store.mail_digest_s = 0.5
    cy, _ = await store.create_guest("news", "Cy")
    await post(store, bo, "one", parent.id)
    await post(store, cy, "two", parent.id)
    mails = sender(store, port)
    assert await mails.run_once() == 0  # not before the digest window is over
    await wait_until(mails.run_once, timeout=10)
    (got,) = box.messages
    assert got["Subject"] == "2 new replies to you on a"
    assert "one" in text(got) and "two" in text(got)


async def test_no_mail_for_held_shadowed_or_own_replies_until_approved(
    store: Store, world: tuple[Author, Author, Comment], inbox: tuple[Inbox, int]
) -> None:
    ana, bo, parent = world
    box, port = inbox
    await post(store, ana, "my own follow-up", parent.id)
    held = await post(store, bo, "held one", parent.id, status=Status.HELD)
    await post(store, bo, "shadowed one", parent.id, status=Status.SHADOWED)
    assert await queue(store) == []
    await store.transition(held.id, Status.PUBLISHED, allowed_from=[Status.HELD])
    mails = sender(store, port)
    await wait_until(mails.run_once, timeout=10)
    (got,) = box.messages
    assert "held one" in text(got) and "own follow-up" not in text(got)
    # Held again and approved again (an edit's review): not a second mail.
    await store.transition(held.id, Status.HELD, allowed_from=[Status.PUBLISHED])
    await store.transition(held.id, Status.PUBLISHED, allowed_from=[Status.HELD])
    assert len(await queue(store)) == 1


async def test_a_reply_withdrawn_or_a_reader_gone_before_sending_sends_nothing(
    store: Store, world: tuple[Author, Author, Comment], inbox: tuple[Inbox, int]
) -> None:
    ana, bo, parent = world
    box, port = inbox
    store.mail_digest_s = 0.2
    reply = await post(store, bo, "soon rejected", parent.id)
    await store.transition(reply.id, Status.REJECTED, allowed_from=[Status.PUBLISHED])
    mails = sender(store, port)
    await wait_until(driving(mails, _all_done, store), timeout=10, interval=0.05)
    await post(store, bo, "after unsubscribing", parent.id)
    assert await MailStore(store).unsubscribe("news", ana.id)
    await wait_until(driving(mails, _all_done, store), timeout=10, interval=0.05)
    assert box.messages == []
    assert {r.status for r in await queue(store)} == {"dropped"}


async def _all_done(store: Store) -> bool:
    rows = await queue(store)
    return bool(rows) and all(r.status != "pending" for r in rows)


async def test_a_refusing_server_gets_the_mail_later(
    store: Store, world: tuple[Author, Author, Comment], inbox: tuple[Inbox, int]
) -> None:
    _, bo, parent = world
    box, port = inbox
    box.refuse = "451 try again later"
    await post(store, bo, "kept", parent.id)
    mails = sender(store, port)
    await wait_until(driving(mails, _attempted, store), timeout=10, interval=0.05)
    (row,) = await queue(store)
    assert row.status == "pending" and "451" in row.last_error
    box.refuse = None
    await wait_until(mails.run_once, timeout=10)
    assert len(box.messages) == 1 and "kept" in text(box.messages[0])


async def _attempted(store: Store) -> bool:
    return any(r.attempts for r in await queue(store))


async def test_at_most_per_hour_mails_to_one_reader(
    store: Store, world: tuple[Author, Author, Comment], inbox: tuple[Inbox, int]
) -> None:
    _, bo, parent = world
    box, port = inbox
    mails = sender(store, port, per_hour=1)
    await post(store, bo, "first reply", parent.id)
    await wait_until(mails.run_once, timeout=10)
    await post(store, bo, "second reply", parent.id)
    assert await mails.run_once() == 0
    (_, later) = await queue(store)
    assert later.status == "pending"
    wait = later.next_attempt_at.replace(tzinfo=later.next_attempt_at.tzinfo or UTC)
    assert (wait - datetime.now(UTC)).total_seconds() > 3000  # next hour
    assert len(box.messages) == 1


async def test_the_address_is_in_the_authors_data_export(
    store: Store, world: tuple[Author, Author, Comment]
) -> None:
    from comments.store.personal import export_author

    ana, _, _ = world
    exported = await export_author(store, "news", ana.id)
    assert exported is not None
    assert [r["email"] for r in exported["mail_subscriptions"]] == ["ana@example.org"]


def test_mail_settings_are_checked_once_at_start() -> None:
    from comments.settings import Settings, SettingsError

    env = {
        "COMMENTS_SMTP_URL": "smtp://mail.example?starttls=1",
        "COMMENTS_MAIL_FROM": "c@x.example",
    }
    built = Settings.from_env(env)
    assert (built.smtp_url, built.mail_digest_s, built.mail_per_hour) == (
        env["COMMENTS_SMTP_URL"],
        600.0,
        10,
    )
    assert "mail.example" not in repr(built)  # may hold a password
    assert Settings.from_env({}).smtp_url is None
    for bad in (
        {**env, "COMMENTS_SMTP_URL": "http://mail.example"},
        {"COMMENTS_SMTP_URL": "smtp://mail.example"},  # no From address
        {**env, "COMMENTS_MAIL_PER_HOUR": "0"},
    ):
        with pytest.raises(SettingsError):
            Settings.from_env(bad)


async def test_sent_over_starttls(
    store: Store, world: tuple[Author, Author, Comment], certificate: tuple[Path, Path]
) -> None:
    _, bo, parent = world
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    box = Inbox()
    await post(store, bo, "over tls", parent.id)
    for port in serve(box, tls_context=server_tls, require_starttls=True):
        policy = MailPolicy(
            SmtpConfig.parse(f"smtp://127.0.0.1:{port}?starttls=1"),
            "c@n.example",
            "https://c.example",
        )
        mails = MailSender(
            MailStore(store),
            policy,
            SECRET,
            tls_context=ssl.create_default_context(cafile=str(cert)),
        )
        await wait_until(mails.run_once, timeout=10)
    (got,) = box.messages
    assert "over tls" in text(got)


async def test_two_nodes_sending_at_once_send_one_mail(
    store: Store, world: tuple[Author, Author, Comment], inbox: tuple[Inbox, int]
) -> None:
    _, bo, parent = world
    box, port = inbox
    await post(store, bo, "raced", parent.id)
    first, second = sender(store, port), sender(store, port)
    sent = await asyncio.gather(first.run_once(), second.run_once())
    assert sorted(sent) == [0, 1] and len(box.messages) == 1
    assert await first.run_once() == 0 and await second.run_once() == 0
