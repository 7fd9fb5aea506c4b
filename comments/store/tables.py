"""The schema, in SQLAlchemy Core. Migrations (``migrations/versions``) must match it."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

UTCDateTime = sa.DateTime(timezone=True)

# A comment without usable scores leads the moderation queue: its risk is this, above any
# real one (scores are at most 1 and thresholds positive; real risks are capped below it).
UNSCORED_RISK = 1e9
UNSCORED_RISK_SQL = "1000000000"
# What may be in a moderation queue; the queue query repeats it word for word so that both
# databases use the partial index built on it.
QUEUE_PREDICATE = "status IN ('held', 'shadowed') OR reports > 0"

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("slug", sa.String(64), primary_key=True),
    # Site settings as one JSON document: the set of knobs grows release by release and
    # they are read together, so a column each would only add migrations.
    sa.Column("settings", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

articles = sa.Table(
    "articles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("site", sa.String(64), sa.ForeignKey("sites.slug"), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("closed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("premoderated", sa.Boolean, nullable=False, server_default=sa.false()),
    # The article's event cursor: bumped with UPDATE … RETURNING inside the transaction
    # that writes the event, so concurrent publishers (even on other nodes) serialise on
    # this row and seqs stay contiguous.
    sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # The article's title and address where known (kept from an import; for the console).
    sa.Column("title", sa.Text, nullable=True),
    sa.Column("url", sa.Text, nullable=True),
    sa.UniqueConstraint("site", "key"),
)

authors = sa.Table(
    "authors",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("site", sa.String(64), sa.ForeignKey("sites.slug"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # "guest" or "sso"
    sa.Column("name", sa.String(200), nullable=False),
    # sha256 of the guest token: the token itself is a credential and is never stored.
    sa.Column("guest_token_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("banned", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("banned_until", UTCDateTime, nullable=True),
    sa.Column("ban_reason", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # The rest of an active ban: "author" or "author+network", shadow or not, by whom, when.
    sa.Column("ban_scope", sa.String(16), nullable=True),
    sa.Column("ban_shadow", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("banned_by", sa.String(100), nullable=True),
    sa.Column("banned_at", UTCDateTime, nullable=True),
)

comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("site", sa.String(64), sa.ForeignKey("sites.slug"), nullable=False),
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), nullable=False),
    sa.Column("parent_id", sa.String(32), nullable=True),
    sa.Column("author_id", sa.String(200), sa.ForeignKey("authors.id"), nullable=False),
    sa.Column("author_name", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=True),
    sa.Column("scores", sa.Text, nullable=True),  # JSON label -> score
    sa.Column("reasons", sa.Text, nullable=True),  # JSON list of strings
    sa.Column("reports", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Held only because the classifier could not score it: re-scored when it is back.
    sa.Column("unscored", sa.Boolean, nullable=False, server_default=sa.false()),
    # The keyed hash of the network it was posted from (comments.moderation.networks):
    # what a network ban covers. Never the address itself.
    sa.Column("network_key", sa.String(64), nullable=True),
    # When its author last changed its text (its earlier texts: comment_versions).
    sa.Column("edited_at", UTCDateTime, nullable=True),
    # The seq it had when it was last withdrawn from the stream: a removed comment with
    # published replies keeps that place in listings, as a tombstone.
    sa.Column("removed_seq", sa.BigInteger, nullable=True),
    # Readers' likes (table reactions), counted in the transaction that adds or drops one.
    sa.Column("reactions", sa.Integer, nullable=False, server_default="0"),
    # The moderation queue's order (comments.store.queue): the largest score ÷ threshold,
    # stored when it is scored; UNSCORED_RISK (leads the queue) until then.
    sa.Column("risk", sa.Float, nullable=False, server_default=UNSCORED_RISK_SQL),
    # Published pages are read by keyset on seq, both ways.
    sa.Index("ix_comments_article_seq", "article_id", "seq"),
    # Duplicate detection looks at one author's most recent comments.
    sa.Index("ix_comments_author_created", "author_id", "created_at"),
    sa.Index("ix_comments_site_status", "site", "status"),
    # The queue pages by (risk, id) over this partial index: only what may be queued.
    sa.Index(
        "ix_comments_queue",
        "site",
        "risk",
        "id",
        postgresql_where=sa.text(QUEUE_PREDICATE),
        sqlite_where=sa.text(QUEUE_PREDICATE),
    ),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("comment_id", sa.String(32), nullable=False),
    # The event exactly as sent on the wire, encoded once when it happened: replays and
    # gap fills send these bytes without building anything.
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

server_secrets = sa.Table(
    "server_secrets",
    metadata,
    # Secrets every node must share, generated once when the operator set none
    # (COMMENTS_SECRET_KEY): the network-key HMAC key.
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

imported = sa.Table(
    "imported",
    metadata,
    # What an import took from where: re-running the same export adds nothing. ``source``
    # names the export's system (``disqus``, ``wordpress:<blog>``, ``jsonl``) and
    # ``source_id`` the comment's id there.
    sa.Column("site", sa.String(64), sa.ForeignKey("sites.slug"), primary_key=True),
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("source_id", sa.String(200), primary_key=True),
    sa.Column("comment_id", sa.String(32), nullable=False),
    sa.Column("imported_at", UTCDateTime, nullable=False),
)
