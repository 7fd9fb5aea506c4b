"""Imports: source ids of imported comments; articles' title and url.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("title", sa.Text, nullable=True))
        batch.add_column(sa.Column("url", sa.Text, nullable=True))
    op.create_table(
        "imported",
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("comment_id", sa.String(32), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site", "source", "source_id", name="pk_imported"),
        sa.ForeignKeyConstraint(["site"], ["sites.slug"], name="fk_imported_site_sites"),
    )


def downgrade() -> None:
    op.drop_table("imported")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("url")
        batch.drop_column("title")
