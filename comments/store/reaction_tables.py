"""Tables of reactions: which reader liked which comment (one like per reader)."""

from __future__ import annotations

import sqlalchemy as sa

from comments.store.tables import UTCDateTime, comments, metadata

reactions = sa.Table(
    "reactions",
    metadata,
    # The primary key makes a like idempotent per reader, on every node at once.
    sa.Column("comment_id", sa.String(32), sa.ForeignKey("comments.id"), primary_key=True),
    # No foreign key: a signed-in reader has no author row until their first comment.
    sa.Column("author_id", sa.String(200), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# Per article: bumped in every transaction that changes a like (likes move no seq). The
# read cache's key holds it with last_seq, so a cached page never shows an old count;
# the live count frames carry it, so nodes keep the newest count whatever the order.
reaction_versions = sa.Table(
    "reaction_versions",
    metadata,
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)

# order=top pages by keyset on (reactions, seq), newest first among equals.
sa.Index("ix_comments_article_top", comments.c.article_id, comments.c.reactions, comments.c.seq)
