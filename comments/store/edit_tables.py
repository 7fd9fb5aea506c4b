"""Tables of edits: the earlier texts of edited comments, kept for moderators."""

from __future__ import annotations

import sqlalchemy as sa

from comments.store.tables import UTCDateTime, metadata

comment_versions = sa.Table(
    "comment_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("comment_id", sa.String(32), sa.ForeignKey("comments.id"), nullable=False),
    # The text as it was before an edit replaced it, and since when it had stood (the
    # comment's creation or its previous edit).
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("written_at", UTCDateTime, nullable=False),
    sa.Column("replaced_at", UTCDateTime, nullable=False),
    sa.Index("ix_comment_versions_comment_id", "comment_id"),
)
