"""Live comment counts (docs/api.md, "Live counts"): one socket follows the published
counts of many articles of a site, as ``{"type": "counts", "counts": {article: n}}``.

Counts are read, never deduced from events: any event of a watched article (a
publication, a removal, an approval after a hold…) marks it dirty, and the node reads
the dirty articles' counts with the query the counts endpoint runs, one per site, at
most once per ``interval_s``; what changed goes to every socket watching it, as one frame
per socket. A socket therefore gets at most one frame per interval whatever the rate of
comments, and the numbers are the endpoint's by construction.

Per node, each watched article has one hub watcher (its channel is the thread sockets'
own, so broker messages, gap fills and resyncs come for free) and one entry holding its
last count and its sockets; a socket holds its article ids and what waits to be sent.
Reads may overlap (a socket's opening read, a flush): each takes a ticket when it
starts, and an article keeps the count of the latest-started read, so an older answer
arriving late never overwrites a newer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from comments.live.hub import Channel, Hub
from comments.store import Store, StoreUnavailable

log = logging.getLogger("comments.counts")

INTERVAL_S = 1.0
# Articles per counts query (a node may have many dirty ones at once).
READ_CHUNK = 500


class CountSocket:
    """One socket's articles and the counts waiting for it (an outbox for the pump)."""

    # Slots: one lives as long as its socket.
    __slots__ = ("_wakeup", "articles", "close_code", "listener", "pending", "site")

    def __init__(self, site: str, articles: tuple[str, ...]) -> None:
        self.site = site
        self.articles = articles
        # Merged, not queued: a client that reads slowly gets the latest counts, and
        # what waits for it is bounded by its number of articles.
        self.pending: dict[str, int] | None = None
        self.close_code: int | None = None
        self.listener: Callable[[], None] | None = None
        self._wakeup: asyncio.Event | None = None

    @property
    def wakeup(self) -> asyncio.Event:
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
            if self.pending:
                self._wakeup.set()
        return self._wakeup

    def offer(self, counts: dict[str, int]) -> None:
        if self.pending is None:
            self.pending = dict(counts)
        else:
            self.pending.update(counts)
        if self.listener is not None:
            self.listener()
        elif self._wakeup is not None:
            self._wakeup.set()

    def take(self) -> str | None:
        pending, self.pending = self.pending, None
        if not pending:
            return None
        return json.dumps({"type": "counts", "counts": pending}, separators=(",", ":"))


@dataclass(eq=False)
class Watched:
    """An article some socket of this node follows."""

    site: str
    article: str
    watcher: Callable[[str], None]
    sockets: set[CountSocket] = field(default_factory=set)
    # The hub.watch call: shared by the sockets that arrive while it subscribes.
    opened: asyncio.Task[Channel] | None = None
    count: int | None = None  # None until first read
    read_at: int = 0  # the ticket of the read ``count`` came from


class LiveCounts:
    """Every article whose count a socket of this node follows."""

    def __init__(self, store: Store, hub: Hub, *, interval_s: float = INTERVAL_S) -> None:
        self.store = store
        self.hub = hub
        self.interval_s = interval_s
        self.watched: dict[tuple[str, str], Watched] = {}
        self.dirty: dict[str, set[str]] = {}  # site -> articles to read again
        # site -> articles whose count changed outside a flush (an opening read): sent
        # to their sockets at the next flush.
        self.changed: dict[str, set[str]] = {}
        self.sockets = 0
        self.frames = 0  # counts frames queued for sockets (metrics)
        self._tickets = itertools.count(1)
        self._scheduled = False
        self._last_flush = float("-inf")
        self._flushing: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing

    # -- sockets ----------------------------------------------------------------------

    async def attach(self, site: str, articles: Iterable[str]) -> CountSocket:
        """Register a socket for ``articles`` (distinct ids) and queue their counts.

        Raises:
            StoreUnavailable: the counts could not be read.
        """
        entries: list[Watched] = []
        for article in articles:
            entry = self.watched.get((site, article))
            if entry is None:
                entry = Watched(site, article, self._watcher(site, article))
                self.watched[(site, article)] = entry
                entry.opened = asyncio.ensure_future(self.hub.watch(site, article, entry.watcher))
            entries.append(entry)
        # The ids the entries hold: one copy of each string per node, not per socket.
        sock = CountSocket(site, tuple(e.article for e in entries))
        for entry in entries:
            entry.sockets.add(sock)
        self.sockets += 1
        try:
            # Watching before reading: a change committed after the read is seen.
            await asyncio.gather(*(asyncio.shield(e.opened) for e in entries if e.opened))
            ticket = next(self._tickets)
            found = await self.store.counts(site, sock.articles)
            sock.offer({e.article: self._note(e, found.get(e.article, 0), ticket) for e in entries})
        except BaseException:
            self.detach(sock)
            raise
        return sock

    def detach(self, sock: CountSocket) -> None:
        articles, sock.articles = sock.articles, ()  # a second call finds nothing to do
        if not articles:
            return
        self.sockets -= 1
        for article in articles:
            entry = self.watched.get((sock.site, article))
            if entry is None:
                continue
            entry.sockets.discard(sock)
            if entry.sockets:
                continue
            del self.watched[(sock.site, article)]
            opened = entry.opened
            if opened is None:
                continue
            if not opened.done():
                opened.cancel()  # hub.watch unwatches as it is cancelled
            elif not opened.cancelled() and opened.exception() is None:
                self.hub.unwatch(opened.result(), entry.watcher)

    # -- changes ----------------------------------------------------------------------

    def _watcher(self, site: str, article: str) -> Callable[[str], None]:
        def changed(payload: str) -> None:
            # Any event may move the count (published, removed; an edit held withdraws
            # the comment with a removal): read rather than deduce.
            self.dirty.setdefault(site, set()).add(article)
            self._schedule()

        return changed

    def _note(self, entry: Watched, count: int, ticket: int) -> int:
        """Keep a count read with ``ticket`` unless a later-started read already gave
        one; return the count the article has now."""
        if ticket > entry.read_at:
            if entry.count is not None and entry.count != count:
                self.changed.setdefault(entry.site, set()).add(entry.article)
                self._schedule()
            entry.count, entry.read_at = count, ticket
        assert entry.count is not None
        return entry.count

    def _schedule(self) -> None:
        if self._scheduled:
            return
        self._scheduled = True
        wait = self._last_flush + self.interval_s - time.monotonic()
        self._timer = asyncio.get_running_loop().call_later(max(0.0, wait), self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        self._flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        """Read the dirty articles' counts and send what changed: one frame per socket."""
        self._last_flush = time.monotonic()
        dirty, self.dirty = self.dirty, {}
        try:
            for site, articles in dirty.items():
                keys = [a for a in articles if (site, a) in self.watched]
                for start in range(0, len(keys), READ_CHUNK):
                    chunk = keys[start : start + READ_CHUNK]
                    ticket = next(self._tickets)
                    try:
                        found = await self.store.counts(site, chunk)
                    except StoreUnavailable as exc:
                        log.warning("cannot read live counts of %s yet: %s", site, exc)
                        self.dirty.setdefault(site, set()).update(chunk)
                        continue
                    for article in chunk:
                        entry = self.watched.get((site, article))
                        if entry is not None:
                            self._note(entry, found.get(article, 0), ticket)
            self._send(self.changed)
        finally:
            self.changed = {}
            self._scheduled = False
            self._flushing = None
            if self.dirty or self.changed:
                self._schedule()

    def _send(self, changed: dict[str, set[str]]) -> None:
        frames: dict[CountSocket, dict[str, int]] = {}
        for site, articles in changed.items():
            for article in articles:
                entry = self.watched.get((site, article))
                if entry is None or entry.count is None:
                    continue
                for sock in entry.sockets:
                    frames.setdefault(sock, {})[article] = entry.count
        for sock, counts in frames.items():
            sock.offer(counts)
        self.frames += len(frames)
