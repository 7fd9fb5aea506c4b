from __future__ import annotations

from comments.transfer.spool import BodySpool


def test_bodies_come_back_exactly_in_any_order() -> None:
    spool = BodySpool()
    texts = ["Grüße 🙂\nzweite Zeile", "", "a" * 10_000, "日本語のコメント"]
    try:
        places = [spool.put(t) for t in texts]
        for place, text in reversed(list(zip(places, texts, strict=True))):
            assert spool.get(place) == text
        # Reading does not disturb later writes.
        later = spool.put("after reads")
        assert spool.get(later) == "after reads"
        assert spool.get(places[0]) == texts[0]
    finally:
        spool.close()
