"""The delivery logs are trimmed (docs/operations.md, "Webhooks", "Reply e-mails"), on
both databases: delivered and failed webhook messages and sent, failed or dropped reply
mails older than their retention are deleted in batches; waiting and recent rows stay
(the delivery log still shows them); a node's sweep does it by itself; and an idle
sweep takes no write transaction. Times are set directly in the database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from comments.models import Status
from comments.settings import Settings, SettingsError
from comments.store import Store, create_store
from comments.store.hook_tables import outbox
from comments.store.log_retention import Trimmed, trim_logs
from comments.store.mail import MailStore
from comments.store.mail_tables import mail_queue
from comments.store.retention import purge_personal_data
from comments.store.webhooks import WebhookStore
from tests.conftest import wait_until

OLD = timedelta(days=40)
URL = "https://hooks.example/in"


async def seed(store: Store) -> tuple[int, list[int], list[int]]:
    """Outbox rows and mail rows of every state, half of the finished ones old: the
    webhook's id, the ids of the old finished outbox rows and mail rows."""
    assert await store.create_site("lr", {"guests": True})
    hook = await WebhookStore(store).add("lr", URL, [])
    store.mail_digest_s = 600.0
    ana, _ = await store.create_guest("lr", "Ana")
    bob, _ = await store.create_guest("lr", "Bob")
    await MailStore(store).subscribe("lr", ana.id, "ana@example.org")
    top, _ = await store.create_comment(
        site="lr", article="a", author=ana, body="top", parent=None, status=Status.PUBLISHED
    )
    for i in range(7):
        await store.create_comment(
            site="lr", article="a", author=bob, body=f"re {i}", parent=top.id,
            status=Status.PUBLISHED,
        )  # fmt: skip
    now = datetime.now(UTC)
    async with store.engine.begin() as conn:
        msgs = list((await conn.execute(sa.select(outbox.c.id).order_by(outbox.c.id))).scalars())
        mails = list(
            (await conn.execute(sa.select(mail_queue.c.id).order_by(mail_queue.c.id))).scalars()
        )
        assert (len(msgs), len(mails)) == (8, 7)
        # Outbox: 0-2 old finished, 3-4 recent finished, 5 old but pending, 6-7 pending.
        finished = {0: "delivered", 1: "failed", 2: "delivered", 3: "delivered", 4: "failed"}
        for i, status in finished.items():
            at = now - OLD if i < 3 else now - timedelta(minutes=5)
            await conn.execute(
                sa.update(outbox)
                .where(outbox.c.id == msgs[i])
                .values(status=status, next_attempt_at=at, done_at=at, created_at=at)
            )
        await conn.execute(
            sa.update(outbox)
            .where(outbox.c.id == msgs[5])
            .values(next_attempt_at=now - OLD, created_at=now - OLD)
        )
        # Mail: 0-2 old sent/failed/dropped, 3 recent sent, 4 old but pending, 5-6 pending.
        states = {0: "sent", 1: "failed", 2: "dropped", 3: "sent"}
        for i, status in states.items():
            at = now - OLD if i < 3 else now - timedelta(minutes=5)
            await conn.execute(
                sa.update(mail_queue)
                .where(mail_queue.c.id == mails[i])
                .values(
                    status=status,
                    next_attempt_at=at,
                    created_at=at,
                    sent_at=at if status == "sent" else None,
                )
            )
        await conn.execute(
            sa.update(mail_queue)
            .where(mail_queue.c.id == mails[4])
            .values(next_attempt_at=now - OLD, created_at=now - OLD)
        )
    return hook.id, msgs[:3], mails[:3]


async def ids_of(store: Store, table: sa.Table) -> list[int]:
    async with store.engine.connect() as conn:
        return list((await conn.execute(sa.select(table.c.id).order_by(table.c.id))).scalars())


async def test_old_finished_rows_go_in_batches_and_the_rest_stays(store: Store) -> None:
    hook, old_msgs, old_mails = await seed(store)
    msgs_before, mails_before = await ids_of(store, outbox), await ids_of(store, mail_queue)
    cut = datetime.now(UTC) - timedelta(days=30)
    # A batch of 2 makes each table's loop go more than once.
    trimmed = await trim_logs(store, messages_before=cut, mails_before=cut, batch=2)
    assert (trimmed.messages, trimmed.mails) == (3, 3)
    assert await ids_of(store, outbox) == [i for i in msgs_before if i not in old_msgs]
    assert await ids_of(store, mail_queue) == [i for i in mails_before if i not in old_mails]
    # The delivery log shows what is left: recent and waiting messages.
    log = await WebhookStore(store).log(hook)
    assert sorted(e["status"] for e in log) == ["delivered", "failed"] + ["pending"] * 3
    again = await trim_logs(store, messages_before=cut, mails_before=cut)
    assert (again.messages, again.mails) == (0, 0)


async def test_an_idle_sweep_takes_no_write_transaction(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(store)
    cut = datetime.now(UTC) - timedelta(days=30)
    await trim_logs(store, messages_before=cut, mails_before=cut)
    await purge_personal_data(store, cut)
    writes = 0
    real_write = store._write

    @contextlib.asynccontextmanager
    async def counting() -> AsyncIterator[Any]:
        nonlocal writes
        writes += 1
        async with real_write() as conn:
            yield conn

    monkeypatch.setattr(store, "_write", counting)
    # Nothing is due any more: both steps of the sweep only read.
    assert await trim_logs(store, messages_before=cut, mails_before=cut) == Trimmed(0, 0)
    assert await purge_personal_data(store, cut) == 0
    assert writes == 0


async def test_a_node_trims_the_logs_by_itself(database_url: str, start_server: Any) -> None:
    store = create_store(database_url)
    try:
        await store.migrate()
        _hook, old_msgs, old_mails = await seed(store)
    finally:
        await store.close()
    settings = Settings(
        database_url=database_url,
        broker_url="memory://",
        channel_prefix="lr",
        webhook_log_retention_days=7,
        mail_log_retention_days=7,
    )
    server = await start_server(settings)
    node_store = server.node.store

    async def trimmed() -> bool:
        msgs, mails = await ids_of(node_store, outbox), await ids_of(node_store, mail_queue)
        return not set(old_msgs) & set(msgs) and not set(old_mails) & set(mails)

    # The sweep runs as the node starts, then once a minute.
    await wait_until(trimmed, timeout=20)
    assert len(await ids_of(node_store, outbox)) >= 5
    assert len(await ids_of(node_store, mail_queue)) == 4


def test_retention_settings_are_read_from_the_environment() -> None:
    d = Settings.from_env({})
    assert (d.webhook_log_retention_days, d.mail_log_retention_days) == (30, 30)
    env = {"COMMENTS_WEBHOOK_LOG_RETENTION_DAYS": "7", "COMMENTS_MAIL_LOG_RETENTION_DAYS": "3"}
    got = Settings.from_env(env)
    assert (got.webhook_log_retention_days, got.mail_log_retention_days) == (7, 3)
    with pytest.raises(SettingsError):
        Settings.from_env({"COMMENTS_MAIL_LOG_RETENTION_DAYS": "0"})
