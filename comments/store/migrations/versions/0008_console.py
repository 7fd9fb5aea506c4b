"""The moderator console: comments.risk (the queue's order) with its partial index, and
full-text search of comment bodies: on PostgreSQL a GIN index on
``to_tsvector('simple', body)``, on SQLite an external-content FTS5 table
``comments_fts`` kept in step by triggers (neither is in tables.py: each is one
database's own; comments.store.search queries them).

``risk`` is backfilled from the stored scores and each site's thresholds as they are now.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import json
import math

import sqlalchemy as sa
from alembic import op

from comments.moderation.policy import default_threshold

revision = "0008"
down_revision = "0007"
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

    if bind.dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_comments_body_fts ON comments USING gin (to_tsvector('simple', body))"
        )
    elif bind.dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
        op.execute("INSERT INTO comments_fts(comments_fts) VALUES ('rebuild')")


SQLITE_FTS = (
    "CREATE VIRTUAL TABLE comments_fts USING fts5(body, content='comments', content_rowid='rowid')",
    "CREATE TRIGGER comments_fts_insert AFTER INSERT ON comments BEGIN "
    "INSERT INTO comments_fts(rowid, body) VALUES (new.rowid, new.body); END",
    "CREATE TRIGGER comments_fts_delete AFTER DELETE ON comments BEGIN "
    "INSERT INTO comments_fts(comments_fts, rowid, body) VALUES ('delete', old.rowid, old.body); "
    "END",
    "CREATE TRIGGER comments_fts_update AFTER UPDATE OF body ON comments BEGIN "
    "INSERT INTO comments_fts(comments_fts, rowid, body) VALUES ('delete', old.rowid, old.body); "
    "INSERT INTO comments_fts(rowid, body) VALUES (new.rowid, new.body); END",
)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_comments_body_fts")
    elif bind.dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS comments_fts_{name}")
        op.execute("DROP TABLE IF EXISTS comments_fts")
    op.drop_index("ix_comments_queue", table_name="comments")
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("risk")
