"""Tables of the moderation side: moderators, socket tickets, reports, the audit log,
banned networks."""

from __future__ import annotations

import sqlalchemy as sa

from comments.store.tables import UTCDateTime, metadata

moderators = sa.Table(
    "moderators",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("site", sa.String(64), sa.ForeignKey("sites.slug"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    # sha256 of the token: a stolen database does not hand out moderator access.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    # "moderator" or "admin" (admins also change the site's settings).
    sa.Column("role", sa.String(16), nullable=False, server_default="moderator"),
    # JSON list of article-key prefixes the moderator may see and act on; [] is all.
    sa.Column("scopes", sa.Text, nullable=False, server_default="[]"),
    sa.Index("ix_moderators_site_name", "site", "name"),
)

tickets = sa.Table(
    "tickets",
    metadata,
    # In the database, not in a node's memory: the socket may land on another node.
    sa.Column("ticket_hash", sa.String(64), primary_key=True),
    sa.Column("moderator_id", sa.Integer, sa.ForeignKey("moderators.id"), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

reports = sa.Table(
    "reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("comment_id", sa.String(32), sa.ForeignKey("comments.id"), nullable=False),
    # Who reported: an author id or "ip:<address>"; one report per reporter counts.
    sa.Column("reporter", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("comment_id", "reporter"),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("site", sa.String(64), sa.ForeignKey("sites.slug"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("moderator", sa.String(100), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_audit_site_id", "site", "id"),
    # "Who decided this comment last?" is asked on every moderator decision.
    sa.Index("ix_audit_site_target_id", "site", "target", "id"),
)

ban_networks = sa.Table(
    "ban_networks",
    metadata,
    # A banned author's networks, as keyed hashes, while the ban lasts: new guest
    # identities from there are refused (or shadowed). Deleted when the ban ends.
    sa.Column("site", sa.String(64), sa.ForeignKey("sites.slug"), primary_key=True),
    sa.Column("network_key", sa.String(64), primary_key=True),
    sa.Column("author_id", sa.String(200), sa.ForeignKey("authors.id"), primary_key=True),
    sa.Column("shadow", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("until", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_ban_networks_author_id", "author_id"),
)
