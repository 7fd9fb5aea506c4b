"""The per-node coalescer of live like counts (comments/live/like_counts.py): the first
count of a quiet spell goes at once, a burst waits for the interval and leaves as its
latest count, and an older version (an echo, a crossing message) never wins."""

from __future__ import annotations

import json

from comments.live.like_counts import LikeCounts, like_message, parse_like


def test_a_burst_leaves_as_its_latest_count_once_per_interval() -> None:
    likes = LikeCounts(interval_s=60.0)
    assert likes.offer("c1", 1, 1) == 0.0  # quiet: flush now
    assert [json.loads(t) for t in likes.take()] == [
        {"type": "comment.reactions", "id": "c1", "reactions": 1}
    ]
    delay = likes.offer("c1", 2, 2)
    assert delay is not None and 59.0 < delay <= 60.0  # not before the interval
    for n in range(3, 51):
        assert likes.offer("c1", n, n) is None  # already scheduled
    assert likes.offer("c2", 7, 51) is None
    assert likes.offer("c1", 3, 3) is None  # older than what is waiting: dropped
    sent = [json.loads(t) for t in likes.take()]
    assert sent == [
        {"type": "comment.reactions", "id": "c1", "reactions": 50},
        {"type": "comment.reactions", "id": "c2", "reactions": 7},
    ]
    assert likes.take() == []


def test_the_broker_message_round_trips_and_junk_is_refused() -> None:
    head, _, body = like_message("c1", 4, 9).partition(b"\n")
    assert head == b"r" and parse_like(body) == ("c1", 4, 9)
    for junk in (b"", b"[]", b"{}", b'{"id": 1, "reactions": 1, "v": 1}', b"not json"):
        assert parse_like(junk) is None
