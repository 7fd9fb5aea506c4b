"""``author export`` (docs/api.md, "Personal data"): everything the database holds about
one author, never raw tokens or network keys; on both databases, and through the CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from comments.cli import main
from comments.models import Status
from comments.store import Store, create_store
from comments.store.edits import EditStore
from comments.store.mail import MailStore
from comments.store.personal import export_author
from comments.store.review import ReviewStore
from comments.store.tables import comments


async def _seed(store: Store) -> tuple[str, str]:
    await store.migrate()
    assert await store.create_site("gd", {"guests": True})
    ana, _ = await store.create_guest("gd", "Ana")
    bob, _ = await store.create_guest("gd", "Bob")
    mine, _ = await store.create_comment(
        site="gd", article="a", author=ana, body="mine", parent=None, status=Status.PUBLISHED
    )
    await store.create_comment(
        site="gd", article="a", author=ana, body="held one", parent=None, status=Status.HELD
    )
    theirs, _ = await store.create_comment(
        site="gd", article="a", author=bob, body="theirs", parent=None, status=Status.PUBLISHED
    )
    await ReviewStore(store).add_report(theirs.id, ana.id, "rude")
    async with store.engine.begin() as conn:
        await conn.execute(sa.update(comments).values(network_key="f" * 64))
    return ana.id, mine.id


async def test_export_lists_everything_held_and_no_raw_secrets(store: Store) -> None:
    ana, _mine = await _seed(store)
    data = await export_author(store, "gd", ana)
    assert data is not None
    assert data["author"]["name"] == "Ana" and data["author"]["kind"] == "guest"
    assert data["author"]["guest_token_hash_present"] is True
    assert [(c["body"], c["status"]) for c in data["comments"]] == [
        ("mine", "published"),
        ("held one", "held"),
    ]
    assert all(c["network_key_present"] is True for c in data["comments"])
    assert [r["reason"] for r in data["reports_made"]] == ["rude"]
    text = json.dumps(data)
    assert "f" * 64 not in text and "theirs" not in text and "Bob" not in text
    assert await export_author(store, "gd", "guest:nobody") is None


def test_cli_author_export(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def seed() -> str:
        store = create_store(sqlite_url)
        try:
            return (await _seed(store))[0]
        finally:
            await store.close()

    ana = asyncio.run(seed())
    monkeypatch.setenv("COMMENTS_DATABASE_URL", sqlite_url)
    assert main(["author", "export", "gd", ana]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["author"]["id"] == ana and len(shown["comments"]) == 2
    out = tmp_path / "ana.json"
    assert main(["author", "export", "gd", ana, "--output", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == shown
    assert main(["author", "export", "gd", "guest:nobody"]) == 2
    assert "no author" in capsys.readouterr().err


async def test_export_holds_the_edit_history_and_reply_mails(store: Store) -> None:
    ana, mine = await _seed(store)
    current = await store.get_comment(mine)
    assert current is not None
    edited = await EditStore(store).apply(current, "mine, edited", Status.PUBLISHED, {})
    assert edited is not None and edited.comment.edited_at is not None
    store.mail_digest_s = 600.0
    bob, _ = await store.create_guest("gd", "Bob2")
    await MailStore(store).subscribe("gd", ana, "ana@example.org")
    await store.create_comment(
        site="gd", article="a", author=bob, body="re", parent=mine, status=Status.PUBLISHED
    )
    data = await export_author(store, "gd", ana)
    assert data is not None
    by_id = {c["id"]: c for c in data["comments"]}
    assert by_id[mine]["body"] == "mine, edited"
    assert by_id[mine]["edited_at"] == edited.comment.edited_at.isoformat()
    assert [(v["comment_id"], v["body"]) for v in data["comment_versions"]] == [(mine, "mine")]
    version = data["comment_versions"][0]
    assert version["written_at"] and version["replaced_at"]
    assert [m["email"] for m in data["mail_subscriptions"]] == ["ana@example.org"]
    assert [m["status"] for m in data["mail_queue"]] == ["pending"]
