"""Everything the database holds about one person (GDPR access requests, docs/api.md
"Personal data"). Tables holding personal data are listed in ``LINKED``: a new one
(reactions, tombstones…) is one line there."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from comments.store.edit_tables import comment_versions
from comments.store.mail_tables import mail_queue, mail_subscriptions
from comments.store.reaction_tables import reactions
from comments.store.review_tables import audit, ban_networks, reports
from comments.store.store import Store
from comments.store.tables import authors, comments

# name in the export -> (table, how its rows belong to the author). Raw secrets and
# keys are never exported: their columns are listed in HIDDEN and shown as "present".
LINKED: dict[str, tuple[sa.Table, Any]] = {
    "reports_made": (reports, lambda a: reports.c.reporter == a),
    "comment_versions": (
        comment_versions,
        lambda a: comment_versions.c.comment_id.in_(
            sa.select(comments.c.id).where(comments.c.author_id == a)
        ),
    ),
    "ban_networks": (ban_networks, lambda a: ban_networks.c.author_id == a),
    # Entries name an author as "author:ID" (bans, notes, erasure).
    "audit": (audit, lambda a: audit.c.target.in_([a, f"author:{a}"])),
    "mail_subscriptions": (mail_subscriptions, lambda a: mail_subscriptions.c.author_id == a),
    "reactions_made": (reactions, lambda a: reactions.c.author_id == a),
    # Reply mails waiting for or sent to them (rows hold comment ids, not addresses).
    "mail_queue": (mail_queue, lambda a: mail_queue.c.author_id == a),
}
HIDDEN = {"guest_token_hash", "network_key"}


def _plain(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row._mapping.items():
        if key in HIDDEN:
            out[f"{key}_present"] = value is not None
        elif isinstance(value, datetime):
            # SQLite hands back naive times: they are UTC, and the export says so.
            out[key] = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
        elif key in ("scores", "reasons") and isinstance(value, str):
            out[key] = json.loads(value)
        else:
            out[key] = value
    return out


async def export_author(store: Store, site: str, author_id: str) -> dict[str, Any] | None:
    """The author row, their comments (every status) and each LINKED table's rows."""
    async with store._read() as conn:
        author = (
            await conn.execute(
                sa.select(authors).where(authors.c.site == site, authors.c.id == author_id)
            )
        ).one_or_none()
        if author is None:
            return None
        out: dict[str, Any] = {"site": site, "author": _plain(author)}
        out["comments"] = [
            _plain(r)
            for r in await conn.execute(
                sa.select(comments)
                .where(comments.c.site == site, comments.c.author_id == author_id)
                .order_by(comments.c.created_at, comments.c.id)
            )
        ]
        for name, (table, belongs) in LINKED.items():
            query = sa.select(table).where(belongs(author_id))
            if "site" in table.c:
                query = query.where(table.c.site == site)
            out[name] = [_plain(r) for r in await conn.execute(query)]
    return out
