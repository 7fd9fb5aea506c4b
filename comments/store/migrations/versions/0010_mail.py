"""Reply e-mails: subscriptions and the mail queue.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mail_subscriptions",
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("author_id", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("site", "author_id", name="pk_mail_subscriptions"),
    )
    op.create_table(
        "mail_queue",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("author_id", sa.String(200), nullable=False),
        sa.Column("comment_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, server_default="0", nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mail_queue"),
    )
    op.create_index("ix_mail_queue_status_next", "mail_queue", ["status", "next_attempt_at"])
    op.create_index("ix_mail_queue_recipient", "mail_queue", ["site", "author_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_mail_queue_recipient", table_name="mail_queue")
    op.drop_index("ix_mail_queue_status_next", table_name="mail_queue")
    op.drop_table("mail_queue")
    op.drop_table("mail_subscriptions")
