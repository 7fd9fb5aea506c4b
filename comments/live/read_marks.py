"""Per-node article marks for cached reads: each watched article's ``(last_seq,
reactions_version)`` as last read from the store, trusted without reading it again while
nothing could have moved it.

A cached answer (comments.web.cached_reads) is keyed by its articles' marks. Reading
them costs a query per request; instead the node watches the articles it keeps answers
for: it subscribes to their broker channels, where every event and like of theirs is
published (by whichever node or CLI process wrote it). A mark is learnt from the store
once the subscription is confirmed (a broker barrier after it), and forgotten on any
message of its channel, on a local write, on a broker reconnect, or when the periodic
sweep finds the store ahead of it. A reader trusts a mark only after a barrier of its
own (comments.infra.broker: every message published before the request arrived has
been handled), so a write answered before the read began is always seen.

Bounded: at most ``limit`` watched articles, least recently read first out, each
unsubscribed as it leaves (unless live sockets still need the channel).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

Mark = tuple[int, int]
# An article without comments yet: no row in the store.
NO_MARK: Mark = (0, 0)
WATCH_LIMIT = 10_000


@dataclass(slots=True)
class Watch:
    site: str
    article: str
    # The subscription is known to be in force (a barrier passed after it was made).
    confirmed: bool = False
    mark: Mark | None = None
    # Moved by every invalidation: a mark read from the store while it moved is void.
    gen: int = 0


@dataclass
class ReadMarks:
    limit: int = WATCH_LIMIT
    watches: OrderedDict[str, Watch] = field(default_factory=OrderedDict)
    # Channels being unsubscribed right now: not confirmable until that is done.
    releasing: set[str] = field(default_factory=set)
    # Moved by a broker reconnect: confirmations and marks from before are void.
    epoch: int = 0
    learnt: int = 0
    trusted_reads: int = 0
    invalidated: int = 0

    def trusted(self, names: list[str]) -> list[Mark] | None:
        """The marks of these channels, or None unless every one is known."""
        marks = []
        for name in names:
            watch = self.watches.get(name)
            if watch is None or watch.mark is None:
                return None
            marks.append(watch.mark)
        return marks

    def touch(self, names: list[str]) -> None:
        for name in names:
            if name in self.watches:
                self.watches.move_to_end(name)

    def invalidate(self, name: str) -> None:
        watch = self.watches.get(name)
        if watch is not None:
            watch.gen += 1
            if watch.mark is not None:
                watch.mark = None
                self.invalidated += 1

    def unconfirm(self, name: str) -> None:
        watch = self.watches.get(name)
        if watch is not None:
            watch.confirmed = False
            self.invalidate(name)

    def forget_all(self) -> None:
        """A broker reconnect: messages may have been missed."""
        self.epoch += 1
        for watch in self.watches.values():
            watch.confirmed = False
            watch.gen += 1
            watch.mark = None

    def watch(self, name: str, site: str, article: str) -> tuple[Watch, bool]:
        """The watch of ``name`` (made when new, then True), most recently used."""
        watch = self.watches.get(name)
        if watch is not None:
            self.watches.move_to_end(name)
            return watch, False
        watch = Watch(site=site, article=article)
        self.watches[name] = watch
        return watch, True

    def over_limit(self) -> list[str]:
        """Drop the least recently read watches beyond the limit; their names."""
        dropped = []
        while len(self.watches) > self.limit:
            name, _ = self.watches.popitem(last=False)
            dropped.append(name)
        return dropped
