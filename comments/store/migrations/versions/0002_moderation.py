"""Moderation: moderators, tickets, reports, audit; comments.unscored.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("comments") as batch:
        # Held only because the classifier could not score it: re-scored when it is back.
        batch.add_column(
            sa.Column("unscored", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_table(
        "moderators",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_moderators"),
        sa.ForeignKeyConstraint(["site"], ["sites.slug"], name="fk_moderators_site_sites"),
        sa.UniqueConstraint("token_hash", name="uq_moderators_token_hash"),
    )
    op.create_index("ix_moderators_site_name", "moderators", ["site", "name"])
    op.create_table(
        "tickets",
        sa.Column("ticket_hash", sa.String(64), nullable=False),
        sa.Column("moderator_id", sa.Integer, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("ticket_hash", name="pk_tickets"),
        sa.ForeignKeyConstraint(
            ["moderator_id"], ["moderators.id"], name="fk_tickets_moderator_id_moderators"
        ),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("comment_id", sa.String(32), nullable=False),
        sa.Column("reporter", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name="fk_reports_comment_id_comments"
        ),
        sa.UniqueConstraint("comment_id", "reporter", name="uq_reports_comment_id_reporter"),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("moderator", sa.String(100), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
        sa.ForeignKeyConstraint(["site"], ["sites.slug"], name="fk_audit_site_sites"),
    )
    op.create_index("ix_audit_site_id", "audit", ["site", "id"])
    op.create_index("ix_audit_site_target_id", "audit", ["site", "target", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_site_target_id", "audit")
    op.drop_index("ix_audit_site_id", "audit")
    op.drop_table("audit")
    op.drop_table("reports")
    op.drop_table("tickets")
    op.drop_index("ix_moderators_site_name", "moderators")
    op.drop_table("moderators")
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("unscored")
