"""Moderator roles and scopes: moderators.role and moderators.scopes.

Moderators made before this release become admins: until now every moderator could do
everything there was to do, and an upgrade must not take a power away from anyone
silently (an operator narrows them with ``comments moderator add … --role moderator``
after revoking). New moderators are plain moderators unless made admins.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("moderators") as batch:
        batch.add_column(
            sa.Column("role", sa.String(16), nullable=False, server_default="moderator")
        )
        batch.add_column(sa.Column("scopes", sa.Text, nullable=False, server_default="[]"))
    op.execute("UPDATE moderators SET role = 'admin'")


def downgrade() -> None:
    with op.batch_alter_table("moderators") as batch:
        batch.drop_column("scopes")
        batch.drop_column("role")
