"""A post's comment is encoded once: its event and its HTTP answer reuse those bytes,
which are exactly what encoding each whole would give."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from starlette.responses import JSONResponse

from comments.models import (
    Author,
    Comment,
    EventType,
    Status,
    comment_json,
    dumps,
    published_event,
)
from comments.web.public import answer_json

COMMENT = Comment(
    id="c1",
    site="news",
    article="2025/07/lavrov-kim",
    parent=None,
    author=Author(id="g:abc", name='Ана "quoted" \\ </script>'),
    body='Line one\nline two\t— «ça» 😀 \u2028 {"json": [1]}',
    status=Status.PUBLISHED,
    seq=17,
    created_at=datetime(2026, 11, 27, 17, 38, 47, tzinfo=UTC),
)


def test_the_event_is_the_whole_encoded_at_once() -> None:
    whole = dumps({"type": str(EventType.PUBLISHED), "seq": 17, "comment": COMMENT.to_json()})
    assert published_event(17, COMMENT) == whole
    assert published_event(17, COMMENT, comment_json(COMMENT)) == whole


@pytest.mark.parametrize("token", [None, 'tok-"en"\\'])
def test_the_answer_is_what_json_response_renders(token: str | None) -> None:
    payload: dict[str, object] = {"comment": COMMENT.to_json(as_author=True)}
    if token is not None:
        payload["guest_token"] = token
    assert answer_json(comment_json(COMMENT), token) == JSONResponse(payload).body
