"""Edits and tombstones: comment_versions, comments.edited_at and comments.removed_seq.

``removed_seq`` is filled for comments removed before this release from their redacted
events (the seq of their first one: their publication), so that they too leave a
tombstone where published replies remain.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("removed_seq", sa.BigInteger, nullable=True))
    op.create_table(
        "comment_versions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("comment_id", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_comment_versions"),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name="fk_comment_versions_comment_id_comments"
        ),
    )
    op.create_index("ix_comment_versions_comment_id", "comment_versions", ["comment_id"])
    op.execute(
        "UPDATE comments SET removed_seq = (SELECT MIN(events.seq) FROM events"
        " WHERE events.article_id = comments.article_id AND events.comment_id = comments.id"
        " AND events.type = 'comment.redacted')"
        " WHERE comments.status NOT IN ('published', 'pending', 'shadowed')"
    )


def downgrade() -> None:
    op.drop_index("ix_comment_versions_comment_id", table_name="comment_versions")
    op.drop_table("comment_versions")
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("removed_seq")
        batch.drop_column("edited_at")
