"""Bans that stick: ban scope/shadow/by/at, network keys of comments and bans, secrets.

Reports by anonymous readers used to name the reader by raw address ("ip:…"): those
reporters become "legacy:<id>" (the count stays, the address goes).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("authors") as batch:
        batch.add_column(sa.Column("ban_scope", sa.String(16), nullable=True))
        batch.add_column(
            sa.Column("ban_shadow", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("banned_by", sa.String(100), nullable=True))
        batch.add_column(sa.Column("banned_at", TS, nullable=True))
    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("network_key", sa.String(64), nullable=True))
    op.create_table(
        "ban_networks",
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("network_key", sa.String(64), nullable=False),
        sa.Column("author_id", sa.String(200), nullable=False),
        sa.Column("shadow", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("until", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("site", "network_key", "author_id", name="pk_ban_networks"),
        sa.ForeignKeyConstraint(["site"], ["sites.slug"], name="fk_ban_networks_site_sites"),
        sa.ForeignKeyConstraint(
            ["author_id"], ["authors.id"], name="fk_ban_networks_author_id_authors"
        ),
    )
    op.create_index("ix_ban_networks_author_id", "ban_networks", ["author_id"])
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_server_secrets"),
    )
    # No raw address stays in the database.
    op.execute(
        "UPDATE reports SET reporter = 'legacy:' || CAST(id AS VARCHAR(20)) "
        "WHERE reporter LIKE 'ip:%'"
    )


def downgrade() -> None:
    op.drop_table("server_secrets")
    op.drop_index("ix_ban_networks_author_id", "ban_networks")
    op.drop_table("ban_networks")
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("network_key")
    with op.batch_alter_table("authors") as batch:
        batch.drop_column("banned_at")
        batch.drop_column("banned_by")
        batch.drop_column("ban_shadow")
        batch.drop_column("ban_scope")
