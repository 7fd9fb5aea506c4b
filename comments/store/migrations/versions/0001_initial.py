"""Initial schema: sites, articles, authors, comments, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("settings", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("slug", name="pk_sites"),
    )
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("premoderated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.ForeignKeyConstraint(["site"], ["sites.slug"], name="fk_articles_site_sites"),
        sa.UniqueConstraint("site", "key", name="uq_articles_site_key"),
    )
    op.create_table(
        "authors",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("guest_token_hash", sa.String(64), nullable=True),
        sa.Column("banned", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("banned_until", TS, nullable=True),
        sa.Column("ban_reason", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_authors"),
        sa.ForeignKeyConstraint(["site"], ["sites.slug"], name="fk_authors_site_sites"),
        sa.UniqueConstraint("guest_token_hash", name="uq_authors_guest_token_hash"),
    )
    op.create_table(
        "comments",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("article_id", sa.Integer, nullable=False),
        sa.Column("parent_id", sa.String(32), nullable=True),
        sa.Column("author_id", sa.String(200), nullable=False),
        sa.Column("author_name", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=True),
        sa.Column("scores", sa.Text, nullable=True),
        sa.Column("reasons", sa.Text, nullable=True),
        sa.Column("reports", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_comments"),
        sa.ForeignKeyConstraint(["site"], ["sites.slug"], name="fk_comments_site_sites"),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name="fk_comments_article_id_articles"
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["authors.id"], name="fk_comments_author_id_authors"
        ),
    )
    op.create_index("ix_comments_article_seq", "comments", ["article_id", "seq"])
    op.create_index("ix_comments_author_created", "comments", ["author_id", "created_at"])
    op.create_index("ix_comments_site_status", "comments", ["site", "status"])
    op.create_table(
        "events",
        sa.Column("article_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("comment_id", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("article_id", "seq", name="pk_events"),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name="fk_events_article_id_articles"
        ),
    )


def downgrade() -> None:
    op.drop_table("events")
    op.drop_index("ix_comments_site_status", "comments")
    op.drop_index("ix_comments_author_created", "comments")
    op.drop_index("ix_comments_article_seq", "comments")
    op.drop_table("comments")
    op.drop_table("authors")
    op.drop_table("articles")
    op.drop_table("sites")
