"""``comments export``: a site's articles and comments as JSON Lines (see :mod:`jsonl`).

Everything a moderator may decide on is exported: published, held and rejected comments
with their scores and reasons. Comments their authors deleted are exported as stubs (id,
parent, status, times: no text, no name) so replies keep their place. Never exported:
guest tokens, moderator tokens, SSO secrets, reporters' identities or network addresses.
"""

from __future__ import annotations

from datetime import datetime
from typing import IO

from comments.models import dumps
from comments.store import Store
from comments.store.transfer import TransferStore
from comments.transfer import jsonl


async def export(
    store: Store,
    out: IO[str],
    *,
    site: str,
    article: str | None = None,
    since: datetime | None = None,
) -> tuple[int, int]:
    """Write the export to ``out``; returns (articles, comments) written."""
    out.write(dumps(jsonl.header(site)) + "\n")
    articles = count = 0
    current: str | None = None
    async for art, comment in TransferStore(store).export_rows(site, article=article, since=since):
        if art["key"] != current:
            current = art["key"]
            articles += 1
            out.write(dumps(jsonl.article_line(site, art)) + "\n")
        out.write(dumps(jsonl.comment_line(site, art["key"], comment)) + "\n")
        count += 1
    return articles, count
