"""`comments import`: Disqus and WordPress exports with their quirks become exactly the
threads they describe, twice in a row without duplicates; unsafe XML imports nothing;
an export imported into another site reproduces every thread."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from comments.store import Store
from comments.store.queue import queue_page
from comments.transfer.export import export
from comments.transfer.importer import Importer
from comments.transfer.records import ImportRefused
from comments.transfer.text import article_id, html_to_text
from tests.conftest import OPEN_SITE

FIXTURES = Path(__file__).parent / "fixtures"


async def threads(store: Store, site: str, *, seqs: bool = True) -> dict[str, list[dict[str, Any]]]:
    """Every article's comments as an export lists them (published ones in seq order),
    ids replaced by positions. Without ``seqs``: another site numbers its own events."""
    out = io.StringIO()
    await export(store, out, site=site)
    lines = [json.loads(line) for line in out.getvalue().splitlines()[1:]]
    comments = [line for line in lines if line["type"] == "comment"]
    ids: dict[str, str] = {}
    counts: dict[str, int] = {}
    for line in comments:
        ids[line["id"]] = f"#{counts.setdefault(line['article'], 0)}"
        counts[line["article"]] += 1
    found: dict[str, list[dict[str, Any]]] = {}
    for line in comments:
        found.setdefault(line["article"], []).append(
            {
                "parent": ids.get(line["parent"], line["parent"]),
                "name": (line["author"] or {}).get("name"),
                "body": line["body"],
                "status": line["status"],
                "seq": line["seq"] if seqs else None,
                "created_at": line["created_at"],
            }
        )
    return found


@pytest.fixture
async def site(store: Store) -> Store:
    await store.create_site("news", dict(OPEN_SITE))
    await store.create_site("copy", dict(OPEN_SITE))
    return store


def test_article_ids_from_links() -> None:
    link = "https://news.example.com/2025/07/lavrov-kim"
    assert article_id("path", link) == "2025/07/lavrov-kim"
    assert article_id("path", "http://example.tld/?p=4") == "?p=4"
    assert article_id("path", "https://example.tld/") == "/"
    assert article_id("link", link) == link
    assert article_id("id", link, "abc") == "abc"
    assert article_id("id", link, "") == "2025/07/lavrov-kim"


def test_html_becomes_plain_text() -> None:
    assert html_to_text("<p>a &amp; b</p><p>c<br>d<br/>e</p>") == "a & b\n\nc\nd\ne"
    assert html_to_text("x &lt;b&gt; <script>y</script>") == "x <b> y"


async def test_disqus_export_gives_exactly_its_threads_twice_without_duplicates(
    site: Store,
) -> None:
    importer = Importer(site)
    report = await importer.run("disqus", FIXTURES / "disqus.xml", site="news")
    assert report.imported == 4
    assert dict(report.statuses) == {"published": 4}
    assert dict(report.skipped) == {"spam": 1, "deleted": 1, "thread missing": 1}
    assert report.missing_thread == ["7"]
    expected = {
        "2025/07/lavrov-kim": [
            {
                "parent": None,
                "name": "Ana",
                "body": "First & foremost\n\nSecond paragraph\nnext line\nlast bold link",
                "status": "published",
                "seq": 1,
                "created_at": "2025-07-01T09:00:00Z",
            },
            {
                "parent": "#0",
                "name": "Bob",
                "body": 'A reply \u2014 with "quotes"',
                "status": "published",
                "seq": 2,
                "created_at": "2025-07-01T09:05:00Z",
            },
            # Its parent (4) was deleted: it answers the comment above that one.
            {
                "parent": "#0",
                "name": "Ana",
                "body": "Answering a deleted one",
                "status": "published",
                "seq": 3,
                "created_at": "2025-07-01T09:30:00Z",
            },
        ],
        "/": [
            {
                "parent": None,
                "name": "Anonymous",
                "body": "Home page comment",
                "status": "published",
                "seq": 1,
                "created_at": "2025-07-02T08:00:00Z",
            }
        ],
    }
    assert await threads(site, "news") == expected
    article = await site.get_article("news", "2025/07/lavrov-kim")
    assert article is not None and article.last_seq == 3

    again = await importer.run("disqus", FIXTURES / "disqus.xml", site="news")
    assert again.imported == 0
    assert again.skipped["already imported"] == 4
    assert await threads(site, "news") == expected


async def test_wordpress_export_gives_exactly_its_threads(site: Store) -> None:
    importer = Importer(site)
    report = await importer.run("wordpress", FIXTURES / "wordpress.xml", site="news")
    assert dict(report.statuses) == {"published": 2, "held": 1}
    assert dict(report.skipped) == {"pingback": 1, "trackback": 1, "spam": 1}
    expected = {
        "?p=4": [
            {
                "parent": None,
                "name": "Mr WordPress",
                "body": "Hi, this is a comment.\nIt has two lines & an entity.",
                "status": "published",
                "seq": 1,
                "created_at": "2015-01-01T11:00:00Z",
            },
            {
                "parent": "#0",
                "name": "Jo",
                "body": "A reply waiting for approval",
                "status": "held",
                "seq": None,
                "created_at": "2015-01-01T11:30:00Z",
            },
        ],
        "about/": [
            {
                "parent": None,
                "name": "Local time only",
                "body": "Para one\n\nPara <two>",
                "status": "published",
                "seq": 1,
                "created_at": "2016-03-04T05:06:07Z",
            }
        ],
    }
    assert await threads(site, "news") == expected
    queue = await queue_page(site, "news", reports_before_review=3, limit=50)
    assert [i.comment.body for i in queue.items] == ["A reply waiting for approval"]
    again = await importer.run("wordpress", FIXTURES / "wordpress.xml", site="news")
    assert again.imported == 0
    assert await threads(site, "news") == expected


async def test_imported_comments_follow_an_articles_existing_events(site: Store) -> None:
    from comments.models import Author, Status

    author = Author(id="g_x", name="Early")
    guest, _ = await site.create_guest("news", "Early")
    for body in ("one", "two"):
        await site.create_comment(
            site="news",
            article="2025/07/lavrov-kim",
            author=guest,
            body=body,
            parent=None,
            status=Status.PUBLISHED,
        )
    del author
    await Importer(site).run("disqus", FIXTURES / "disqus.xml", site="news")
    rows = await site.events_since("news", "2025/07/lavrov-kim", 0, limit=100)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    bodies = [json.loads(r.payload)["comment"]["body"] for r in rows]
    assert bodies[:2] == ["one", "two"]
    assert bodies[2].startswith("First & foremost")


@pytest.mark.parametrize("name", ["xxe.xml", "laughs.xml"])
async def test_xml_declaring_entities_imports_nothing(site: Store, name: str) -> None:
    with pytest.raises(ImportRefused, match="entities"):
        await Importer(site).run("disqus", FIXTURES / name, site="news")
    assert await threads(site, "news") == {}


async def test_dry_run_writes_nothing(site: Store) -> None:
    report = await Importer(site).run("disqus", FIXTURES / "disqus.xml", site="news", dry_run=True)
    assert report.imported == 4
    assert await threads(site, "news") == {}


async def test_export_then_import_into_another_site_reproduces_every_thread(
    site: Store, tmp_path: Path
) -> None:
    from comments.models import Status
    from comments.store.store import NotFound

    await Importer(site).run("disqus", FIXTURES / "disqus.xml", site="news")
    await Importer(site).run("wordpress", FIXTURES / "wordpress.xml", site="news")
    # Moderation after the import: one rejected, and one published comment deleted.
    source = await threads(site, "news")
    out = io.StringIO()
    await export(site, out, site="news")
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    ids = [x["id"] for x in lines if x["type"] == "comment"]
    await site.transition(ids[1], Status.REJECTED, allowed_from=[Status.PUBLISHED])
    await site.transition(ids[-1], Status.DELETED, allowed_from=[Status.PUBLISHED])
    with pytest.raises(NotFound):
        await site.transition("nope", Status.DELETED, allowed_from=[Status.PUBLISHED])
    source = await threads(site, "news", seqs=False)
    path = tmp_path / "news.jsonl"
    with path.open("w") as f:
        await export(site, f, site="news")
    text = path.read_text()
    assert "guest_token" not in text and "token" not in text
    report = await Importer(site).run("jsonl", path, site="copy")
    assert report.skipped == {}
    copied = await threads(site, "copy", seqs=False)
    assert copied == source
    # Statuses survive, held ones are waiting and deleted ones stay stubs.
    statuses = {c["status"] for t in copied.values() for c in t}
    assert statuses == {"published", "held", "rejected", "deleted"}
    again = await Importer(site).run("jsonl", path, site="copy")
    assert again.imported == 0
    assert await threads(site, "copy", seqs=False) == source
