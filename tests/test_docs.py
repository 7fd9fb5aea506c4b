"""Every relative link in README.md and docs/*.md resolves to a file inside the repository,
and every ``#anchor`` names a heading of its target (GitHub's slug rules).

A link out of the repository (``../shared/API.md``) is broken for anyone who clones it,
so it fails here even when the file happens to exist beside this checkout.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])

FENCE = re.compile(r"^\s*(```|~~~)")
# [text](target) and ![alt](target), text possibly holding `code`; an optional "title".
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"""<a\s[^>]*(?:name|id)=["']([^"']+)["']""", re.IGNORECASE)
CODE_SPAN = re.compile(r"(`+)(.+?)\1")  # paired left to right, as Markdown pairs them
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:…


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a link in an example is not a link)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def links(text: str) -> list[str]:
    found: list[str] = []
    for line in prose_lines(text):
        # A code span that shows a link, `[x](path)`, is an example, not a link.
        shown = CODE_SPAN.sub(lambda m: "" if "](" in m.group(2) else m.group(0), line)
        found += INLINE_LINK.findall(shown)
        ref = REFERENCE_LINK.match(line)
        if ref:
            found.append(ref.group(1))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation other than
    ``-`` and ``_`` removed, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # [text](url) → text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    text = "".join(c for c in text.lower() if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a Markdown file has: its headings' slugs (repeats get -1, -2…) and
    explicit ``<a name>``/``id`` anchors."""
    text = path.read_text(encoding="utf-8")
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_lines(text):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    found.update(HTML_ANCHOR.findall(text))
    return found


def problems(text: str, source: Path) -> list[str]:
    """What is wrong with the relative links of ``text``, read as the file ``source``."""
    wrong: list[str] = []
    for target in links(text):
        if EXTERNAL.match(target) or target.startswith("//"):
            continue
        path_part, _, anchor = target.partition("#")
        path_part = unquote(path_part.split("?", 1)[0])
        if path_part.startswith("/"):
            resolved = (ROOT / path_part.lstrip("/")).resolve()
        else:
            resolved = (source.parent / path_part).resolve() if path_part else source
        if not resolved.is_relative_to(ROOT):
            wrong.append(f"{target}: outside the repository")
            continue
        if not resolved.exists():
            wrong.append(f"{target}: no such file")
            continue
        if anchor and resolved.suffix == ".md" and unquote(anchor) not in anchors(resolved):
            wrong.append(f"{target}: no heading #{anchor} in {resolved.relative_to(ROOT)}")
    return wrong


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(path: Path) -> None:
    assert problems(path.read_text(encoding="utf-8"), path) == []


def test_the_docs_that_must_exist_do() -> None:
    assert (ROOT / "docs" / "api.md").is_file()
    assert ROOT / "README.md" in DOCS


def test_a_link_out_of_the_repository_fails() -> None:
    readme = ROOT / "README.md"
    found = problems("The contract is [`API.md`](../shared/API.md).", readme)
    assert found == ["../shared/API.md: outside the repository"]


def test_missing_files_and_anchors_fail_and_good_ones_pass() -> None:
    readme = ROOT / "README.md"
    text = (
        "[ok](docs/api.md#error-codes) [here](#operations) [web](https://example.com/x) "
        "[gone](docs/nope.md) [bad](docs/api.md#no-such-heading)\n"
        "```\n[in a fence](docs/also-nope.md)\n```\nan example: `[x](docs/nope-too.md)`\n"
    )
    assert problems(text, readme) == [
        "docs/nope.md: no such file",
        "docs/api.md#no-such-heading: no heading #no-such-heading in docs/api.md",
    ]


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Contract v1.1: not yet served", "contract-v11-not-yet-served"),
        (
            "`POST /api/v1/sites/{site}/articles/{article}/comments`",
            "post-apiv1sitessitearticlesarticlecomments",
        ),
        ("Health, metrics and the API description", "health-metrics-and-the-api-description"),
        ("Fan-out: WebSocket `batch` frames", "fan-out-websocket-batch-frames"),
        ("snake_case kept", "snake_case-kept"),
    ],
)
def test_slugs_follow_github(heading: str, expected: str) -> None:
    assert slug(heading) == expected
