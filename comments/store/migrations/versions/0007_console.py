"""The moderator console: comments.risk (the queue's order) with its partial index.

``risk`` is backfilled from the stored scores and each site's thresholds as they are now.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import json
import math

import sqlalchemy as sa
from alembic import op

from comments.moderation.policy import default_threshold

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UNSCORED_RISK = 1e9
QUEUE_PREDICATE = "status IN ('held', 'shadowed') OR reports > 0"


def _risk(scores: dict[str, float], thresholds: dict[str, float]) -> float:
    usable = {
        k: float(v)
        for k, v in scores.items()
        if isinstance(v, int | float) and math.isfinite(float(v))
    }
    if not usable:
        return UNSCORED_RISK
    values = []
    for label, score in usable.items():
        t = thresholds.get(label)
        if not isinstance(t, int | float) or not t > 0:
            t = default_threshold(label)
        values.append(score / t)
    return min(max(values), UNSCORED_RISK / 10)


def upgrade() -> None:
    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("risk", sa.Float, nullable=False, server_default="1000000000"))
    bind = op.get_bind()
    sites = {
        row.slug: json.loads(row.settings).get("thresholds") or {}
        for row in bind.execute(sa.text("SELECT slug, settings FROM sites"))
    }
    scored = bind.execute(
        sa.text("SELECT id, site, scores FROM comments WHERE scores IS NOT NULL")
    ).all()
    for row in scored:
        try:
            scores = json.loads(row.scores) or {}
        except ValueError:
            continue
        if not isinstance(scores, dict):
            continue
        bind.execute(
            sa.text("UPDATE comments SET risk = :risk WHERE id = :id"),
            {"risk": _risk(scores, sites.get(row.site, {})), "id": row.id},
        )
    op.create_index(
        "ix_comments_queue",
        "comments",
        ["site", "risk", "id"],
        postgresql_where=sa.text(QUEUE_PREDICATE),
        sqlite_where=sa.text(QUEUE_PREDICATE),
    )


def downgrade() -> None:
    op.drop_index("ix_comments_queue", table_name="comments")
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("risk")
