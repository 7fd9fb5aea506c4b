"""Tables of reply e-mails: who opted in (with their address) and the mails to send."""

from __future__ import annotations

import sqlalchemy as sa

from comments.store.tables import UTCDateTime, metadata

mail_subscriptions = sa.Table(
    "mail_subscriptions",
    metadata,
    # One address per reader of a site; never served by any API answer.
    sa.Column("site", sa.String(64), primary_key=True),
    sa.Column("author_id", sa.String(200), primary_key=True),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

mail_queue = sa.Table(
    "mail_queue",
    metadata,
    # One row per reply to a subscribed reader, written in the reply's publishing
    # transaction; a recipient's pending rows leave together as one mail (a digest).
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("author_id", sa.String(200), nullable=False),  # the recipient
    sa.Column("comment_id", sa.String(32), nullable=False),  # the reply
    # "pending", "sent", "dropped" (reply withdrawn or reader unsubscribed) or "failed".
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # Not before: the first reply's time plus the digest window, later after failures.
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # The same for every row of one mail: the per-recipient hourly limit counts these.
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Index("ix_mail_queue_status_next", "status", "next_attempt_at"),
    sa.Index("ix_mail_queue_recipient", "site", "author_id", "status"),
)
