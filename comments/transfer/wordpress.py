"""WordPress WXR exports: ``<item>``s (posts, pages) with their ``<wp:comment>``s."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO
from xml.etree.ElementTree import Element

from comments.transfer.records import Post, Skip, Thread
from comments.transfer.text import html_to_text
from comments.transfer.xmlstream import child_text, elements_at, local

SOURCE = "wordpress"


def parse_time(text: str) -> datetime | None:
    """``2015-01-01 10:00:00``; WordPress writes zeros for dates it does not know."""
    text = text.strip()
    if not text or text.startswith("0000-00-00"):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _comment(elem: Element, thread: str) -> Post:
    approved = child_text(elem, "comment_approved").strip().lower()
    kind = child_text(elem, "comment_type").strip().lower()
    parent = child_text(elem, "comment_parent").strip()
    user = child_text(elem, "comment_user_id").strip()
    name = child_text(elem, "comment_author").strip()
    email = child_text(elem, "comment_author_email").strip().lower()
    # The GMT date first; the blog's local date (its zone unknown) only without one.
    created = parse_time(child_text(elem, "comment_date_gmt")) or parse_time(
        child_text(elem, "comment_date")
    )
    post = Post(
        source_id=child_text(elem, "comment_id").strip(),
        thread=thread,
        parent=parent if parent and parent != "0" else None,
        author_key=f"user:{user}" if user and user != "0" else f"anon:{name}\x00{email}",
        author_name=name,
        body=html_to_text(child_text(elem, "comment_content")),
        created_at=created,
        status="published" if approved == "1" else "held",
    )
    if kind == "pingback":
        post.skip = Skip.PINGBACK
    elif kind == "trackback":
        post.skip = Skip.TRACKBACK
    elif approved == "spam":
        post.skip = Skip.SPAM
    elif approved in ("trash", "post-trashed"):
        post.skip = Skip.DELETED
    return post


class Parser:
    """Keeps the blog's address: comment ids are numbered per blog."""

    def __init__(self) -> None:
        self.blog = ""

    @property
    def source(self) -> str:
        return f"{SOURCE}:{self.blog}" if self.blog else SOURCE

    def parse(self, source: IO[bytes]) -> Iterator[Thread | Post]:
        for elem, _ in elements_at(source, 2):
            name = local(elem.tag)
            if name in ("base_blog_url", "base_site_url") and not self.blog:
                self.blog = (elem.text or "").strip().rstrip("/")
            if name != "item":
                continue
            thread = Thread(
                source_id=child_text(elem, "post_id").strip(),
                link=child_text(elem, "link").strip(),
                title=child_text(elem, "title").strip() or None,
                own_id=child_text(elem, "post_id").strip(),
            )
            if not thread.link:  # drafts have none; their guid is still the address
                thread.link = child_text(elem, "guid").strip()
            yield thread
            for child in elem:
                if local(child.tag) == "comment":
                    yield _comment(child, thread.source_id)
