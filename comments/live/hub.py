"""WebSocket fan-out: one channel per live article per node, a bounded queue per socket.

Events reach a channel from two sides: this node's own writes (delivered at once) and the
broker (other nodes' writes, and our own echoed back). A channel passes events on strictly
in seq order, each once: a duplicate is dropped, an early one waits ``gap_wait_s`` for the
ones before it and then the gap is read from the store. Events that arrive in one loop turn
leave as one frame, built once and shared by every socket of the channel, and so do
events that arrive while a channel pauses after a long fan-out (``FANOUT_PAUSE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from comments.infra.broker import Broker, BrokerUnavailable
from comments.live.frames import text_frame
from comments.live.like_counts import LIKES_HEAD, LikeCounts, like_message, parse_like
from comments.live.read_marks import NO_MARK, WATCH_LIMIT, Mark, ReadMarks
from comments.models import (
    batch_frame,
    carries_comment,
    redacted_event,
    reset_event,
    superseded_id,
)
from comments.store import EventRow, Store, StoreUnavailable
from comments.store.reactions import ReactionStore

#: Told each event of a channel's stream (its payload), once, in seq order: for parts
#: that follow an article without a socket of their own (comments.live.counts).
Watcher = Callable[[str], None]

log = logging.getLogger("comments.hub")

# A client further behind than this is told to reload (docs/api.md: `reset`).
REPLAY_MAX = 1000
# Gap fills and resyncs read the store in pages of this many events.
READ_PAGE = 1000
# The sweep compares this many watched articles' marks with the store per query.
SWEEP_MARKS_PAGE = 500
# A frame carries at most this many characters of events (one event may exceed it), so
# a replay of long comments arrives as several frames, each within the 1 MiB message
# limit common WebSocket clients apply by default (4 bytes a character at worst).
FRAME_MAX_CHARS = 128 * 1024
# After a fan-out that took t seconds of CPU, a channel waits FANOUT_PAUSE * t (at most
# FANOUT_PAUSE_MAX_S) before its next one, and what arrives meanwhile leaves as one
# frame. A burst of comments on a hot article then costs one write per socket per batch
# rather than per comment, and fanning out takes at most about half of the event loop,
# the rest staying free for posts, reads and other articles. The price is latency, and
# only where fan-outs are long: a comment that arrives within the pause waits for its
# end (an article with few readers fans out in microseconds).
FANOUT_PAUSE = 1.0
FANOUT_PAUSE_MAX_S = 0.1


def article_channel(prefix: str, site: str, article: str) -> str:
    """The broker channel of an article's events. A namespace of its own: with
    ``{prefix}:{site}:…`` a site called "mod" shared channels with the moderation feed
    (``{prefix}:mod:{site}``)."""
    return f"{prefix}:article:{site}:{article}"


def event_message(event: EventRow) -> bytes:
    """An event as the broker carries it: its seq, a newline, its payload."""
    return b"%d\n" % event.seq + event.payload.encode()


@dataclass(frozen=True)
class Frame:
    """Consecutive events, and the text that carries them, built once per channel."""

    first: int
    last: int
    payloads: tuple[str, ...]
    text: str
    # Within FRAME_MAX_CHARS (or one event alone): may go out as it is. A longer one
    # (a gap filled from the store, a burst during a pause) is split by ``take``.
    whole: bool = True

    @cached_property
    def wire(self) -> bytes:
        """The WebSocket frame carrying ``text``: the same bytes for every socket."""
        return text_frame(self.text.encode())


def frame_of(events: list[tuple[int, str]]) -> Frame:
    payloads = tuple(p for _, p in events)
    text = payloads[0] if len(payloads) == 1 else batch_frame(list(payloads))
    # The rule ``take`` applies: each event after the first adds its length and a comma.
    whole = len(payloads) == 1 or sum(map(len, payloads)) + len(payloads) - 1 <= FRAME_MAX_CHARS
    return Frame(first=events[0][0], last=events[-1][0], payloads=payloads, text=text, whole=whole)


def redact_events(
    events: list[tuple[int, str]], comment_id: str, before: int
) -> list[tuple[int, str]]:
    """``events`` with those before seq ``before`` that carry the comment redacted."""
    return [
        (seq, redacted_event(seq, comment_id))
        if seq < before and carries_comment(payload, comment_id)
        else (seq, payload)
        for seq, payload in events
    ]


class Redactor:
    """Replaces the frames that carry a removed comment, each shared frame once."""

    def __init__(self, comment_id: str, before: int) -> None:
        self.comment_id = comment_id
        self.before = before
        self._done: dict[int, Frame] = {}  # id(frame) -> its replacement

    def __call__(self, frame: Frame) -> Frame:
        if not frame.payloads or frame.first >= self.before:
            return frame
        done = self._done.get(id(frame))
        if done is None:
            events = list(zip(range(frame.first, frame.last + 1), frame.payloads, strict=True))
            cleaned = redact_events(events, self.comment_id, self.before)
            done = frame if cleaned == events else frame_of(cleaned)
            self._done[id(frame)] = done
        return done


class Subscriber:
    """One socket's view of a channel: what it has been sent and what waits for it."""

    # Slots: one of these lives as long as its socket, and a __dict__ would double it.
    __slots__ = (
        "_held",
        "_held_events",
        "_wakeup",
        "channel",
        "close_code",
        "direct",
        "frames",
        "last_queued",
        "limit",
        "listener",
        "next_seq",
        "replay_end",
        "replaying",
        "taken",
        "wire",
    )

    def __init__(self, channel: Channel, limit: int) -> None:
        self.channel = channel
        self.limit = limit
        self.next_seq = 0  # the first seq this socket still needs
        self.last_queued = -1  # the last seq waiting in ``frames``
        # The replay is bounded by REPLAY_MAX and does not count against ``limit``: a
        # client further behind than the limit would otherwise be closed on every
        # reconnect and never catch up.
        self.replay_end = 0
        # A list, not a deque: it holds one frame or none nearly always, and an empty
        # deque takes 600 bytes; an idle socket's memory is what caps a node.
        self.frames: list[Frame] = []
        self._wakeup: asyncio.Event | None = None  # made only for an outbox without listener
        # Set by the socket's pump: called instead of ``wakeup.set()``, it sends at once.
        self.listener: Callable[[], None] | None = None
        # Set by the pump while its socket is live and idle: writes a whole frame to the
        # socket now, or returns False (then the frame queues as usual). The fan-out's
        # fast path: one call per socket, the frame's bytes shared by all.
        self.direct: Callable[[bytes], bool] | None = None
        self.close_code: int | None = None
        self.replaying = True
        self.taken = 0  # events in the text ``take`` returned last (0 for a control frame)
        # The frame carrying that text when it is the channel's own (built once), else None.
        self.wire: bytes | None = None
        self._held: list[Frame] = []
        self._held_events = 0

    @property
    def wakeup(self) -> asyncio.Event:
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
            if self.frames or self.close_code is not None:
                self._wakeup.set()
        return self._wakeup

    @property
    def queued(self) -> int:
        """Events waiting to be sent."""
        return max(0, self.last_queued - self.next_seq + 1)

    @property
    def live_queued(self) -> int:
        """Events waiting to be sent, not counting what is left of the replay."""
        replay_left = max(0, min(self.replay_end, self.last_queued) - self.next_seq + 1)
        return self.queued - replay_left

    def push(self, frame: Frame) -> int:
        """Queue ``frame`` (or send it now); return how many events went out now."""
        if self.close_code is not None:
            return 0
        direct = self.direct
        if (
            direct is not None
            and frame.first == self.next_seq
            and not self.frames
            and frame.payloads
            and frame.whole
            and direct(frame.wire)
        ):
            self.last_queued = frame.last
            self.next_seq = frame.last + 1
            return len(frame.payloads)
        if self.replaying:
            self._held.append(frame)
            self._held_events += len(frame.payloads)
            too_many = self._held_events > self.limit
        elif frame.last >= self.next_seq:
            self.frames.append(frame)
            self.last_queued = max(self.last_queued, frame.last)
            too_many = self.live_queued > self.limit
        else:
            return 0
        if too_many:
            # Too slow: drop it rather than let it hold memory or slow the channel.
            self.frames.clear()
            self._held.clear()
            self.close_code = 1013
        elif self.replaying:
            return 0
        self._wake()
        return 0

    def push_control(self, frame: Frame) -> None:
        """Queue a frame outside the seq stream (live like counts): sent in turn, after
        the replay when one is being read; a socket that lets too many pile up closes."""
        if self.close_code is not None:
            return
        if self.replaying:
            self._held.append(frame)
            return
        self.frames.append(frame)
        if len(self.frames) > self.limit:
            self.frames.clear()
            self.close_code = 1013
        self._wake()

    def _wake(self) -> None:
        if self.listener is not None:
            self.listener()
        elif self._wakeup is not None:
            self._wakeup.set()

    def start_live(self, replay: list[Frame], next_seq: int) -> None:
        """Queue the replay, then whatever arrived live meanwhile, and go live."""
        held, self._held = self._held, []
        self.replaying = False
        self.next_seq = next_seq
        self.last_queued = next_seq - 1
        self.replay_end = max((f.last for f in replay if f.payloads), default=0)
        for frame in [*replay, *held]:
            if not frame.payloads:  # a control frame (reset): always sent
                self.frames.append(frame)
            else:
                self.push(frame)
        self._wake()

    def redact(self, redactor: Redactor) -> None:
        """Drop a removed comment's text from what waits for this socket."""
        if self.frames:
            self.frames[:] = [redactor(f) for f in self.frames]
        if self._held:
            self._held[:] = [redactor(f) for f in self._held]

    def removals_held(self) -> set[tuple[str, int]]:
        """The comments removed (or edited) by events that arrived while the replay was
        read, each with the seq of that event."""
        return {
            (cid, frame.first + i)
            for frame in self._held
            for i, p in enumerate(frame.payloads)
            if (cid := superseded_id(p)) is not None
        }

    def take(self) -> str | None:
        """The next text to send, or None: what waits, as one frame of at most
        FRAME_MAX_CHARS (a single larger event goes alone)."""
        self.taken = 0
        self.wire = None
        frames = self.frames
        if frames and not frames[0].payloads:
            return frames.pop(0).text
        events: list[str] = []
        size = 0
        first: Frame | None = None  # the frame the text starts with, when taken whole
        full = False
        done = 0  # frames wholly taken, dropped from the front at the end
        while done < len(frames) and frames[done].payloads and not full:
            frame = frames[done]
            start = max(self.next_seq - frame.first, 0)
            if not events:
                first = frame if start == 0 else None
            for i in range(start, len(frame.payloads)):
                payload = frame.payloads[i]
                if events and size + len(payload) > FRAME_MAX_CHARS:
                    full = True
                    break
                events.append(payload)
                size += len(payload) + 1
                self.next_seq = frame.first + i + 1
            if self.next_seq > frame.last:
                done += 1
        del frames[:done]
        if not events:
            return None
        self.taken = len(events)
        if first is not None and len(first.payloads) == len(events):
            self.wire = first.wire
            return first.text  # the common case: the channel's frame, untouched
        return events[0] if len(events) == 1 else batch_frame(events)


@dataclass
class Channel:
    site: str
    article: str
    name: str
    subscribers: set[Subscriber] = field(default_factory=set)
    last_seq: int | None = None  # None until read from the store
    early: dict[int, str] = field(default_factory=dict)
    outbox: list[tuple[int, str]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    flush_scheduled: bool = False
    filling: bool = False
    # No fan-out before this (time.monotonic()): events arriving meanwhile leave as one frame.
    quiet_until: float = 0.0
    # Live like counts waiting for their once-a-second flush (comments.live.like_counts).
    likes: LikeCounts = field(default_factory=LikeCounts)
    # Told every event in order; they keep the channel open as sockets do.
    watchers: list[Watcher] = field(default_factory=list)


class Hub:
    """Every live article on this node, and the sockets watching each."""

    def __init__(
        self,
        store: Store,
        broker: Broker,
        *,
        channel_prefix: str = "comments",
        queue_limit: int = 2000,
        gap_wait_s: float = 0.05,
        resync_interval_s: float = 5.0,
        fanout_pause: float = FANOUT_PAUSE,
        delivered: Callable[[int], object] | None = None,
        watch_limit: int = WATCH_LIMIT,
    ) -> None:
        self.store = store
        self.broker = broker
        self.prefix = channel_prefix
        self.queue_limit = queue_limit
        self.gap_wait_s = gap_wait_s
        self.resync_interval_s = resync_interval_s
        self.fanout_pause = fanout_pause
        self.channels: dict[str, Channel] = {}
        # Told how many events a fan-out wrote straight to sockets (metrics).
        self.delivered: Callable[[int], object] = delivered or (lambda count: None)
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.publish_failures = 0
        # Like-count frames queued for sockets (one per socket per comment per flush).
        self.like_frames = 0
        # Articles watched for the read cache, with their marks (comments.live.read_marks).
        self.read_marks = ReadMarks(limit=watch_limit)
        # Broker publishes under way: writers wait for them before answering.
        self._sending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.broker.connect()
        if self.resync_interval_s > 0:
            self._sweeper = asyncio.create_task(self._sweep(), name="hub-sweep")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._sweeper is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.broker.disconnect()

    def channel_name(self, site: str, article: str) -> str:
        return article_channel(self.prefix, site, article)

    @property
    def sockets(self) -> int:
        return sum(len(c.subscribers) for c in self.channels.values())

    # -- sockets ----------------------------------------------------------------------

    async def attach(self, site: str, article: str, since: int | None) -> Subscriber:
        """Register a socket and queue its replay; it then receives every later event.

        Raises:
            StoreUnavailable: the replay could not be read.
        """
        name = self.channel_name(site, article)
        channel = self.channels.get(name)
        if channel is None:
            channel = Channel(site=site, article=article, name=name)
            self.channels[name] = channel
            self._spawn(self._open(channel))
        sub = Subscriber(channel, self.queue_limit)
        channel.subscribers.add(sub)
        try:
            await channel.ready.wait()
            assert channel.last_seq is not None
            current = channel.last_seq
            if since is not None and since > current:
                # The client saw events this node has not heard of yet (it comes from
                # another node, ahead of our broker messages): the store decides
                # whether its cursor is real, and this channel catches up from it.
                latest = (await self.store.latest_seqs(site, [article])).get(article, 0)
                if latest > current:
                    current = latest
                    self._catch_up(channel)
            replay: list[Frame] = []
            start = current + 1
            if since is not None and since != current:
                if since > current or current - since > REPLAY_MAX:
                    replay = [Frame(current, current, (), reset_event(current))]
                else:
                    rows = await self.store.events_since(
                        site, article, since, limit=REPLAY_MAX, until=current
                    )
                    start = since + 1
                    if rows:
                        events = [(r.seq, r.payload) for r in rows]
                        # A comment removed while the rows were read (its removal is
                        # among what arrived meanwhile) may still show its text in them.
                        for cid, at in sub.removals_held() | self._removals_waiting(channel):
                            events = redact_events(events, cid, min(at, current + 1))
                        replay = [frame_of(events)]
            sub.start_live(replay, start)
        except BaseException:
            self.detach(sub)
            raise
        return sub

    def detach(self, sub: Subscriber) -> None:
        channel = sub.channel
        channel.subscribers.discard(sub)
        self._drop_if_unused(channel)

    async def watch(self, site: str, article: str, watcher: Watcher) -> Channel:
        """Tell ``watcher`` every later event of the article, in seq order, once each;
        return once the channel is subscribed and has read the article's cursor, so
        that whatever is read from the store after that is followed by every change.
        One channel serves the article's sockets and watchers alike."""
        name = self.channel_name(site, article)
        channel = self.channels.get(name)
        if channel is None:
            channel = Channel(site=site, article=article, name=name)
            self.channels[name] = channel
            self._spawn(self._open(channel))
        channel.watchers.append(watcher)
        try:
            await channel.ready.wait()
        except BaseException:
            self.unwatch(channel, watcher)
            raise
        return channel

    def unwatch(self, channel: Channel, watcher: Watcher) -> None:
        with contextlib.suppress(ValueError):
            channel.watchers.remove(watcher)
        self._drop_if_unused(channel)

    def _drop_if_unused(self, channel: Channel) -> None:
        if channel.subscribers or channel.watchers:
            return
        if self.channels.get(channel.name) is channel:
            del self.channels[channel.name]
            self._spawn(self._close(channel))

    async def _open(self, channel: Channel) -> None:
        # Subscribe first, then read the cursor: an event committed in between arrives
        # through the broker and is merged by seq, so nothing falls between the two.
        seqs: dict[str, int] | None = None
        while seqs is None and self.channels.get(channel.name) is channel:
            try:
                await self.broker.subscribe(channel.name)
                seqs = await self.store.latest_seqs(channel.site, [channel.article])
            except (StoreUnavailable, BrokerUnavailable) as exc:
                log.warning("cannot open channel %s yet: %s", channel.name, exc)
                await asyncio.sleep(0.5)
        if seqs is None or self.channels.get(channel.name) is not channel:
            # Every socket left while the channel was opening: undo the subscription.
            await self._close(channel)
            return
        channel.last_seq = seqs.get(channel.article, 0)
        early = sorted(channel.early.items())
        channel.early.clear()
        for seq, payload in early:
            self._accept(channel, seq, payload)
        channel.ready.set()

    async def _close(self, channel: Channel) -> None:
        await self._release(channel.name)

    async def _release(self, name: str) -> None:
        """Unsubscribe ``name`` unless a live channel or a read watch still needs it."""
        marks = self.read_marks
        if name in self.channels or name in marks.watches or name in marks.releasing:
            return
        marks.releasing.add(name)
        try:
            with contextlib.suppress(BrokerUnavailable):
                await self.broker.unsubscribe(name)
        finally:
            marks.releasing.discard(name)
        if name in self.channels or name in marks.watches:
            # Wanted again while it was being dropped (its new subscribe may have gone
            # first): subscribe again; what was learnt meanwhile is void, and a live
            # channel reads what it may have missed.
            marks.unconfirm(name)
            with contextlib.suppress(BrokerUnavailable):
                await self.broker.subscribe(name)
            channel = self.channels.get(name)
            if channel is not None and channel.ready.is_set():
                self._catch_up(channel)

    # -- marks for cached reads (comments.live.read_marks) ----------------------------

    async def marks_now(self, site: str, articles: list[str]) -> list[Mark] | None:
        """The articles' marks with no database work, or None (then ``learn_marks``)."""
        names = [self.channel_name(site, a) for a in articles]
        if self.read_marks.trusted(names) is None:
            return None
        # Whatever was published before this request arrived has been handled after it.
        if not await self.broker.barrier():
            return None
        marks = self.read_marks.trusted(names)
        if marks is not None:
            self.read_marks.touch(names)
            self.read_marks.trusted_reads += 1
        return marks

    async def learn_marks(self, site: str, articles: list[str]) -> dict[str, Mark]:
        """The articles' marks read from the store (the exact path); each is kept for the
        next reads when its channel is confirmed and nothing moved it meanwhile.

        Raises:
            StoreUnavailable: the store could not be read.
        """
        if not self.broker.barriers or self.read_marks.limit == 0:
            return await ReactionStore(self.store).marks(site, articles)
        marks = self.read_marks
        names = [self.channel_name(site, a) for a in articles]
        watches = []
        fresh = []
        for name, article in zip(names, articles, strict=True):
            watch, new = marks.watch(name, site, article)
            watches.append(watch)
            if new:
                fresh.append(name)
        for name in marks.over_limit():
            self._spawn(self._release(name))
        epoch = marks.epoch
        for name in fresh:
            with contextlib.suppress(BrokerUnavailable):
                await self.broker.subscribe(name)

        def current(name: str, watch: object) -> bool:
            return (
                marks.epoch == epoch
                and marks.watches.get(name) is watch
                and name not in marks.releasing
            )

        if not all(w.confirmed for w in watches) and await self.broker.barrier():
            for name, watch in zip(names, watches, strict=True):
                if current(name, watch):
                    watch.confirmed = True
        gens = [w.gen for w in watches]
        found = await ReactionStore(self.store).marks(site, articles)
        for name, article, watch, gen in zip(names, articles, watches, gens, strict=True):
            if watch.confirmed and watch.gen == gen and current(name, watch):
                watch.mark = found.get(article, NO_MARK)
                marks.learnt += 1
        return found

    async def sent(self, timeout: float = 5.0) -> None:
        """Wait until the broker publishes begun so far are done (or failed): a writer
        answers after its event left, so a read on another node that starts after the
        answer finds it there (comments.live.read_marks)."""
        # Without barriers (a Redis Cluster) no reader trusts messages: nothing to wait for.
        if self._sending and self.broker.barriers:
            await asyncio.wait(list(self._sending), timeout=timeout)

    # -- events -----------------------------------------------------------------------

    def publish(self, site: str, article: str, event: EventRow) -> None:
        """An event this node just committed: deliver it here now, and to other nodes."""
        name = self.channel_name(site, article)
        self.read_marks.invalidate(name)
        channel = self.channels.get(name)
        if channel is not None:
            self._accept(channel, event.seq, event.payload)
        self._send_soon(name, event_message(event))

    def _send_soon(self, name: str, data: bytes) -> None:
        task = asyncio.ensure_future(self._send(name, data))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def _send(self, name: str, data: bytes) -> None:
        try:
            await self.broker.publish(name, data)
        except BrokerUnavailable as exc:
            # The event is stored; other nodes find it on resync or on their next sweep.
            self.publish_failures += 1
            log.warning(
                "could not publish to %s (%s); peers will read it from the store", name, exc
            )

    def on_message(self, name: str, data: bytes) -> None:
        # Any event or like of a watched article: its mark is read again.
        self.read_marks.invalidate(name)
        channel = self.channels.get(name)
        if channel is None:
            return
        head, _, body = data.partition(b"\n")
        if head == LIKES_HEAD:
            like = parse_like(body)
            if like is not None:
                self._like(channel, *like)
            return
        try:
            seq = int(head)
        except ValueError:
            log.error("dropped a malformed broker message on %s", name)
            return
        self._accept(channel, seq, body.decode())

    def publish_like(
        self, site: str, article: str, comment_id: str, reactions: int, version: int
    ) -> None:
        """A like count this node just committed: to this node's sockets and to others'."""
        name = self.channel_name(site, article)
        self.read_marks.invalidate(name)
        channel = self.channels.get(name)
        if channel is not None:
            self._like(channel, comment_id, reactions, version)
        self._send_soon(name, like_message(comment_id, reactions, version))

    def _like(self, channel: Channel, comment_id: str, reactions: int, version: int) -> None:
        delay = channel.likes.offer(comment_id, reactions, version)
        if delay is not None:
            asyncio.get_running_loop().call_later(delay, self._flush_likes, channel)

    def _flush_likes(self, channel: Channel) -> None:
        for text in channel.likes.take():
            frame = Frame(0, 0, (), text)
            for sub in list(channel.subscribers):
                sub.push_control(frame)
            self.like_frames += len(channel.subscribers)

    def _accept(self, channel: Channel, seq: int, payload: str) -> None:
        if channel.last_seq is None:
            channel.early[seq] = payload
            return
        if seq <= channel.last_seq:
            return
        channel.early[seq] = payload
        nxt = channel.last_seq + 1
        if nxt in channel.early:
            while nxt in channel.early:
                payload = channel.early.pop(nxt)
                channel.outbox.append((nxt, payload))
                channel.last_seq = nxt
                for watcher in channel.watchers:
                    watcher(payload)
                gone = superseded_id(payload)  # removed, or edited: older text goes
                if gone is not None:
                    self._redact(channel, gone, nxt)
                nxt += 1
            self._schedule_flush(channel)
        if channel.early and not channel.filling:
            channel.filling = True
            self._spawn(self._fill(channel, wait=True))

    def _redact(self, channel: Channel, comment_id: str, removed_at: int) -> None:
        """A comment left the stream at seq ``removed_at``: what this node still holds of
        its earlier events (waiting to be sent, or to be flushed) loses its text. The
        store was redacted in the removal's transaction; this covers the copies in
        memory, on every node, since the removal reaches each by broker or by a read."""
        channel.outbox = redact_events(channel.outbox, comment_id, removed_at)
        redactor = Redactor(comment_id, removed_at)
        for sub in channel.subscribers:
            sub.redact(redactor)

    @staticmethod
    def _removals_waiting(channel: Channel) -> set[tuple[str, int]]:
        return {(cid, seq) for seq, p in channel.outbox if (cid := superseded_id(p)) is not None}

    def _schedule_flush(self, channel: Channel) -> None:
        if channel.flush_scheduled:
            return
        channel.flush_scheduled = True
        loop = asyncio.get_running_loop()
        # Monotonic time, not loop.time(): uvloop's counts whole milliseconds.
        wait = channel.quiet_until - time.monotonic()
        if wait > 0:
            loop.call_later(wait, self._flush, channel)
        else:
            loop.call_soon(self._flush, channel)

    def _flush(self, channel: Channel) -> None:
        channel.flush_scheduled = False
        if not channel.outbox or not channel.subscribers:  # watched only: nobody to send to
            channel.outbox = []
            return
        frame = frame_of(channel.outbox)
        channel.outbox = []
        # CPU time, not wall time: a fan-out the OS interrupted did not cost more.
        started = time.thread_time()
        sent = 0
        for sub in list(channel.subscribers):
            sent += sub.push(frame)
        cost = time.thread_time() - started
        if sent:
            self.delivered(sent)
        channel.quiet_until = time.monotonic() + min(self.fanout_pause * cost, FANOUT_PAUSE_MAX_S)

    async def _fill(self, channel: Channel, *, wait: bool) -> None:
        """Read from the store what this channel has not seen (a gap, or a resync)."""
        channel.filling = True
        try:
            if wait:
                await asyncio.sleep(self.gap_wait_s)
            while self.channels.get(channel.name) is channel and channel.last_seq is not None:
                if wait and not channel.early:
                    return  # the gap closed by itself
                try:
                    rows = await self.store.events_since(
                        channel.site, channel.article, channel.last_seq, limit=READ_PAGE
                    )
                except StoreUnavailable as exc:
                    log.warning("cannot read missed events of %s: %s", channel.name, exc)
                    await asyncio.sleep(0.5)
                    continue
                for row in rows:
                    self._accept(channel, row.seq, row.payload)
                if len(rows) < READ_PAGE:
                    return
        finally:
            channel.filling = False
            # An event that ran ahead while this read was under way opens a new gap.
            if channel.early and self.channels.get(channel.name) is channel:
                channel.filling = True
                self._spawn(self._fill(channel, wait=True))

    def _catch_up(self, channel: Channel) -> None:
        if self.channels.get(channel.name) is channel and not channel.filling:
            self._spawn(self._fill(channel, wait=False))

    def on_resync(self) -> None:
        self.read_marks.forget_all()
        for channel in list(self.channels.values()):
            if channel.ready.is_set():
                # Spawned even when a gap fill runs: that one may stop at its gap.
                self._spawn(self._fill(channel, wait=False))

    async def _sweep(self) -> None:
        """Compare every live article with the store now and then: the net under a
        broker message lost without the connection dropping."""
        while True:
            await asyncio.sleep(self.resync_interval_s)
            by_site: dict[str, list[Channel]] = {}
            for channel in self.channels.values():
                if channel.ready.is_set():
                    by_site.setdefault(channel.site, []).append(channel)
            for site, channels in by_site.items():
                try:
                    latest = await self.store.latest_seqs(site, [c.article for c in channels])
                except StoreUnavailable:
                    continue
                for channel in channels:
                    behind = (
                        channel.last_seq is not None
                        and latest.get(channel.article, 0) > channel.last_seq
                    )
                    if behind:
                        self._catch_up(channel)
            await self._sweep_marks()

    async def _sweep_marks(self) -> None:
        """Forget every mark the store has moved past: the net under a message lost
        without the connection dropping, or written where no broker tells (a CLI
        process beside the in-process broker)."""
        by_site: dict[str, list[tuple[str, str]]] = {}
        for name, watch in self.read_marks.watches.items():
            if watch.mark is not None:
                by_site.setdefault(watch.site, []).append((name, watch.article))
        for site, known in by_site.items():
            for start in range(0, len(known), SWEEP_MARKS_PAGE):
                page = known[start : start + SWEEP_MARKS_PAGE]
                try:
                    found = await ReactionStore(self.store).marks(site, [a for _, a in page])
                except StoreUnavailable:
                    return
                for name, article in page:
                    now = self.read_marks.watches.get(name)
                    if now is not None and now.mark not in (None, found.get(article, NO_MARK)):
                        self.read_marks.invalidate(name)

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("hub task failed", exc_info=task.exception())
