"""Streaming XML, hardened: elements handed over one at a time and then dropped.

defusedxml's parser refuses entity declarations (billion laughs, quadratic blow-up) and
external entities or DTDs (XXE) with an exception before any of them is expanded. The
importer reads the whole file before it writes anything, so a refused file imports
nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from comments.transfer.records import ImportRefused


def local(tag: str) -> str:
    """``{namespace}name`` → ``name``."""
    return tag.rpartition("}")[2]


def child_text(elem: Element, name: str) -> str:
    """The text of the first child called ``name`` (any namespace), "" when absent."""
    for child in elem:
        if local(child.tag) == name:
            return child.text or ""
    return ""


def elements_at(source: IO[bytes], depth: int) -> Iterator[tuple[Element, list[Element]]]:
    """Yield each complete element ``depth`` levels below the root (root = 0) with its
    ancestors, then clear it, so memory holds one element at a time, not the file."""
    stack: list[Element] = []
    try:
        for event, elem in iterparse(
            source, events=("start", "end"), forbid_dtd=False, forbid_entities=True
        ):
            if event == "start":
                stack.append(elem)
                continue
            stack.pop()
            if len(stack) == depth:
                yield elem, stack
                elem.clear()
                if stack:
                    # The builder appended it to its parent: drop it there too.
                    stack[-1].remove(elem)
    except DefusedXmlException as exc:
        raise ImportRefused(
            f"the file declares XML entities or refers to external ones ({type(exc).__name__}: "
            f"{exc}); refusing it: nothing was imported"
        ) from None
    except ParseError as exc:
        raise ImportRefused(f"not well-formed XML: {exc}; nothing was imported") from None
