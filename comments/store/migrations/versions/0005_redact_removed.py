"""Redact the stored events of comments removed before removals redacted them.

Until now a deleted or rejected comment's ``comment.published`` event kept its body and
author, and replays served them again. Since this release the removal's transaction
redacts them (``Store.withdraw``); this does the same for what is already stored: every
``comment.published`` event that is not the current publication of a published comment
becomes ``{"type": "comment.redacted", "seq": n, "id": "…"}``. Data only, no schema change.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The tables as this revision knows them (never the application's, which move on).
events = sa.table(
    "events",
    sa.column("article_id", sa.Integer),
    sa.column("seq", sa.BigInteger),
    sa.column("type", sa.String),
    sa.column("comment_id", sa.String),
    sa.column("payload", sa.Text),
)
comments = sa.table(
    "comments",
    sa.column("id", sa.String),
    sa.column("status", sa.String),
    sa.column("seq", sa.BigInteger),
)
BATCH = 1000


def redacted(seq: int, comment_id: str) -> str:
    # As comments.models.redacted_event encodes it.
    return json.dumps(
        {"type": "comment.redacted", "seq": seq, "id": comment_id},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def upgrade() -> None:
    conn = op.get_bind()
    current = sa.and_(
        comments.c.id == events.c.comment_id,
        comments.c.status == "published",
        comments.c.seq == events.c.seq,
    )
    stale = (
        sa.select(events.c.article_id, events.c.seq, events.c.comment_id)
        .where(events.c.type == "comment.published", ~sa.exists().where(current))
        .order_by(events.c.article_id, events.c.seq)
    )
    rows = conn.execute(stale).all()
    update = (
        sa.update(events)
        .where(events.c.article_id == sa.bindparam("b_article"))
        .where(events.c.seq == sa.bindparam("b_seq"))
        .values(type="comment.redacted", payload=sa.bindparam("b_payload"))
    )
    for start in range(0, len(rows), BATCH):
        conn.execute(
            update,
            [
                {
                    "b_article": r.article_id,
                    "b_seq": r.seq,
                    "b_payload": redacted(r.seq, r.comment_id),
                }
                for r in rows[start : start + BATCH]
            ],
        )


def downgrade() -> None:
    # The redacted text is gone for good (that is the point): nothing to restore.
    pass
