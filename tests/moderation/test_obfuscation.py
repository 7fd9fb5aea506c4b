"""Obfuscated abuse is held and tricky clean comments are published, end to end: a real
server with the bundled profanity-check model, through the posting path (POST → 201
published or 202 held). The sets are ours, kept in tests/moderation/data/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from comments.scoring.scorer import BUNDLED_MODEL_WARNING
from tests.conftest import add_site
from tests.moderation import Guest, bearer, mod_settings, new_moderator, post, posted

DATA = Path(__file__).parent / "data"
TOXIC_SET: list[str] = json.loads((DATA / "obfuscated_toxic.json").read_text("utf-8"))
CLEAN_SET: list[str] = json.loads((DATA / "tricky_clean.json").read_text("utf-8"))

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def server(database_url: str, channel_prefix: str, start_server: Any) -> Any:
    await add_site(database_url, banned_words=["casino"], suspect_words=["crypto"])
    return await start_server(mod_settings(database_url, "memory://", channel_prefix))


def test_the_sets_are_big_enough_and_cover_the_issue() -> None:
    assert len(TOXIC_SET) >= 60 and len(CLEAN_SET) >= 60
    assert len(set(TOXIC_SET)) == len(TOXIC_SET) and len(set(CLEAN_SET)) == len(CLEAN_SET)
    for must in ("F.U.C.K. this article", "@sshole", "pi$$ off", "fck off", "fvck the editors"):
        assert must in TOXIC_SET
    assert any(len(text) > 600 and text.endswith("fuck you") for text in TOXIC_SET)
    assert "Dick Cheney's memoir is a dull read" in CLEAN_SET


async def test_obfuscated_abuse_is_held_and_tricky_clean_text_published(server: Any) -> None:
    async with server.client() as http:
        # An author with a published comment, so that a link is not what holds a comment.
        reader = Guest("Ana")
        await posted(http, "thanks for the thoughtful article", 201, guest=reader)
        outcome: dict[str, dict[str, list[Any]]] = {"toxic": {}, "clean": {}}
        for name, texts in (("toxic", TOXIC_SET), ("clean", CLEAN_SET)):
            for text in texts:
                r = await post(http, text, guest=reader)
                assert r.status_code in (201, 202), (text, r.text)
                outcome[name].setdefault(str(r.status_code), []).append(text)
    held_toxic = len(outcome["toxic"].get("202", []))
    held_clean = outcome["clean"].get("202", [])
    published_toxic = outcome["toxic"].get("201", [])
    print(f"toxic held {held_toxic}/{len(TOXIC_SET)}; published: {published_toxic}")
    print(f"clean held {len(held_clean)}/{len(CLEAN_SET)}: {held_clean}")
    assert held_toxic >= 0.95 * len(TOXIC_SET), published_toxic
    assert len(held_clean) <= 0.04 * len(CLEAN_SET), held_clean


async def test_a_banned_word_in_disguise_is_refused_and_the_message_says_how(
    server: Any,
) -> None:
    async with server.client() as http:
        r = await post(http, "win big at the c.a.s.i.n.o tonight")
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "banned_word"
        assert 'casino (as "c.a.s.i.n.o")' in r.json()["error"]["message"]
        # Whole words only: a word that merely contains it is fine.
        assert (await post(http, "casinos? the casinoland theme park is shut")).status_code == 201


async def test_moderators_see_what_matched_and_the_bundled_model_warning(server: Any) -> None:
    async with server.client() as http:
        await posted(http, "buy \u0441 r y p t o now", 202)  # a Cyrillic es, spaced
        held = await posted(http, "I know where you live", 202)
        moderator = await new_moderator(server, http)
        r = await http.get("/api/v1/moderation/sites/news/queue", headers=bearer(moderator.token))
        assert r.status_code == 200
        items = {item["id"]: item for item in r.json()["items"]}
        assert items[held["id"]]["reasons"] == ["suspect phrase: i know where you live"]
        spelled = [i for i in items.values() if i["body"].startswith("buy")]
        assert spelled[0]["reasons"] == ['suspect word: crypto (as "\u0441 r y p t o")']
        classifier = r.json()["classifier"]
        assert classifier["name"] == "profanity-check"
        assert classifier["warning"] == BUNDLED_MODEL_WARNING
