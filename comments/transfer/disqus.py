"""Disqus XML exports: ``<thread>`` and ``<post>`` elements under ``<disqus>``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import IO
from xml.etree.ElementTree import Element

from comments.transfer.records import Post, Skip, Thread
from comments.transfer.text import html_to_text
from comments.transfer.xmlstream import child_text, elements_at, local

SOURCE = "disqus"
DSQ_ID = "{http://disqus.com/disqus-internals}id"


def _dsq_id(elem: Element) -> str:
    for key, value in elem.attrib.items():
        if local(key) == "id":
            return value.strip()
    return ""


def _child(elem: Element, name: str) -> Element | None:
    for child in elem:
        if local(child.tag) == name:
            return child
    return None


def _true(text: str) -> bool:
    return text.strip().lower() == "true"


def parse_time(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _thread(elem: Element) -> Thread:
    return Thread(
        source_id=_dsq_id(elem),
        link=child_text(elem, "link").strip(),
        title=child_text(elem, "title").strip() or None,
        own_id=child_text(elem, "id").strip(),
    )


def _post(elem: Element) -> Post:
    author = _child(elem, "author")
    name = email = username = ""
    anonymous = True
    if author is not None:
        name = child_text(author, "name").strip()
        email = child_text(author, "email").strip().lower()
        username = child_text(author, "username").strip()
        anonymous = _true(child_text(author, "isAnonymous")) or not username
    thread = _child(elem, "thread")
    parent = _child(elem, "parent")
    approved = child_text(elem, "isApproved").strip().lower()
    post = Post(
        source_id=_dsq_id(elem),
        thread=_dsq_id(thread) if thread is not None else "",
        parent=(_dsq_id(parent) or None) if parent is not None else None,
        author_key=f"anon:{name}\x00{email}" if anonymous else f"user:{username}",
        author_name=name or username,
        body=html_to_text(child_text(elem, "message")),
        created_at=parse_time(child_text(elem, "createdAt")),
        status="held" if approved == "false" else "published",
    )
    if _true(child_text(elem, "isSpam")):
        post.skip = Skip.SPAM
    elif _true(child_text(elem, "isDeleted")):
        post.skip = Skip.DELETED
    return post


def parse(source: IO[bytes]) -> Iterator[Thread | Post]:
    for elem, _ in elements_at(source, 1):
        name = local(elem.tag)
        if name == "thread":
            yield _thread(elem)
        elif name == "post":
            yield _post(elem)
