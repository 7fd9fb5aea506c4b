"""Tables of webhooks: the sites' subscriptions and the transactional outbox."""

from __future__ import annotations

import sqlalchemy as sa

from comments.store.tables import UTCDateTime, metadata

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("site", sa.String(64), sa.ForeignKey("sites.slug"), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    # JSON list of the event types it receives.
    sa.Column("events", sa.Text, nullable=False),
    # ``whsec_<base64>``; after a rotation the previous one signs too until
    # ``old_secret_until``, so receivers can switch without losing a message.
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("old_secret", sa.String(128), nullable=True),
    sa.Column("old_secret_until", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_webhooks_site", "site"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    # Written in the transaction that makes the change: one row per event and webhook.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("webhook_id", sa.Integer, nullable=False),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    # What order is kept within: an article's key (or ``author:<id>``).
    sa.Column("order_key", sa.String(260), nullable=False),
    sa.Column("msg_id", sa.String(40), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    # "pending", "delivered" or "failed" (given up after the retry window).
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    # A node that claimed the row owns it until then (so nodes do not double-send).
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("done_at", UTCDateTime, nullable=True),
    sa.Index("ix_outbox_status_next", "status", "next_attempt_at"),
    sa.Index("ix_outbox_webhook_order", "webhook_id", "order_key", "id"),
)
