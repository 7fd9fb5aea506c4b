"""Imported comments take their place in the moderation queue from their scores (the
stored risk, comments.store.queue), with the site's thresholds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from comments.store import Store
from comments.store.tables import UNSCORED_RISK
from comments.transfer.export import export
from comments.transfer.importer import Importer
from tests.conftest import OPEN_SITE

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
async def site(store: Store) -> Store:
    await store.create_site("news", dict(OPEN_SITE))
    await store.create_site("copy", {**OPEN_SITE, "thresholds": {"toxicity": 0.5}})
    return store


async def test_held_imports_are_ranked_by_their_scores(site: Store, tmp_path: Path) -> None:
    await Importer(site).run("wordpress", FIXTURES / "wordpress.xml", site="news")
    path = tmp_path / "news.jsonl"
    with path.open("w") as f:
        await export(site, f, site="news")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    held = [x for x in lines if x.get("type") == "comment" and x["status"] == "held"]
    assert held, "the fixture holds a comment"
    held[0]["scores"] = {"toxicity": 0.4}
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    await Importer(site).run("jsonl", path, site="copy")
    async with site.engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT status, risk FROM comments WHERE site = 'copy'"))
        risks = {r.status: r.risk for r in rows}
    assert risks["held"] == pytest.approx(0.8)  # 0.4 ÷ the site's 0.5
    assert risks["published"] == UNSCORED_RISK  # imported as published: never scored
