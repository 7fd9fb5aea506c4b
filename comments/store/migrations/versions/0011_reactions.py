"""Reactions: the reactions table (one like per reader), comments.reactions and
reaction_versions (per article: the read cache's key for counts).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reactions",
        sa.Column("comment_id", sa.String(32), nullable=False),
        sa.Column("author_id", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name="fk_reactions_comment_id_comments"
        ),
        sa.PrimaryKeyConstraint("comment_id", "author_id", name="pk_reactions"),
    )
    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("reactions", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_comments_article_top", "comments", ["article_id", "reactions", "seq"])
    op.create_table(
        "reaction_versions",
        sa.Column("article_id", sa.Integer, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name="fk_reaction_versions_article_id_articles"
        ),
        sa.PrimaryKeyConstraint("article_id", name="pk_reaction_versions"),
    )


def downgrade() -> None:
    op.drop_table("reaction_versions")
    op.drop_index("ix_comments_article_top", table_name="comments")
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("reactions")
    op.drop_table("reactions")
