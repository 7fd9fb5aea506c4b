"""HTML comment bodies to plain text, and article ids from links."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from comments.models import ARTICLE_MAX

_BREAK = re.compile(r"<br\s*/?>", re.I)
_PARAGRAPH = re.compile(r"</?(?:p|div|blockquote|li|ul|ol|h[1-6]|pre)(?:\s[^>]*)?>", re.I)
_TAG = re.compile(r"<!--.*?-->|<[a-zA-Z/!?][^>]*>", re.S)
_SPACES = re.compile(r"[ \t\r\f\v]+\n")
_BLANKS = re.compile(r"\n{3,}")


def html_to_text(source: str) -> str:
    """``<br>`` → a newline, paragraphs → a blank line between them, other tags dropped
    (their text kept), entities decoded, surrounding whitespace trimmed.

    Regular expressions rather than an HTML parser: comment markup is small and flat, and
    200,000 bodies must convert in seconds. A ``<`` that is text is ``&lt;`` in HTML, so
    whatever looks like a tag is markup.
    """
    text = source.replace("\r\n", "\n")
    if "<" in text:
        text = _BREAK.sub("\n", text)
        text = _PARAGRAPH.sub("\n\n", text)
        text = _TAG.sub("", text)
    if "&" in text:
        text = html.unescape(text)
    text = text.replace("\xa0", " ")
    text = _SPACES.sub("\n", text)
    text = _BLANKS.sub("\n\n", text)
    return text.strip()


ARTICLE_MODES = ("path", "link", "id")


def article_id(mode: str, link: str, own_id: str = "") -> str | None:
    """The article id a thread gets (docs/api.md, import), or None when it has none.

    ``path``: the link's path and query without the leading slash, a bare ``/`` kept;
    ``link``: the whole link; ``id``: the source's own id of the thread, or (empty ids
    are common in Disqus exports) the path, as Disqus itself falls back to the page.
    """
    link = link.strip()
    if mode == "id" and own_id.strip():
        key = own_id.strip()
    elif mode == "link":
        key = link
    else:
        if not link:
            return None
        parts = urlsplit(link)
        key = parts.path.lstrip("/")
        if parts.query:
            key += "?" + parts.query
        if not key:
            key = "/"
    if not key or len(key) > ARTICLE_MAX or "\x00" in key:
        return None
    return key
