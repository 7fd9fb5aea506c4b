"""Redis Cluster broker: sharded pub/sub (SPUBLISH / SSUBSCRIBE).

A classic PUBLISH on a cluster is copied over the cluster bus to every node, so its cost
grows with the cluster. A shard channel lives only on the master that owns its hash slot:
article channels (deliberately without a ``{hashtag}``) spread over the shards, and adding
shards adds pub/sub capacity.

A node keeps one subscription connection to each master (masters are few): the channels a
master owns are subscribed there, and its loss is seen there. Any trouble on any of them
(a master gone, the cluster down, a slot moved away: the server then ends our
subscriptions in that slot with a ``sunsubscribe``) rebuilds the whole set from a fresh
CLUSTER SLOTS, resubscribes, and calls ``on_resync``, since messages may have been missed.
The connections are our own rather than redis-py's cluster pub/sub because that one
reconnects and resubscribes by itself, which would leave such a gap unreported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from redis.exceptions import MovedError, RedisError, ResponseError

from comments.infra.broker.base import Broker, BrokerUnavailable
from comments.infra.broker.reconnect import Backoff, safe_url

log = logging.getLogger("comments.broker")

SCHEMES = ("redis-cluster", "rediss-cluster")
# Connecting, and any reply but a pub/sub read, waits at most this long.
TIMEOUT_S = 2.0
# How long a read waits before the link checks its health again.
POLL_S = 1.0
# A link that has heard nothing for this long sends a PING, which must be answered as fast:
# a master that vanished without closing its sockets is noticed within twice this.
IDLE_PING_S = 5.0
# How long a rebuild waits for every subscription to be confirmed.
SUBSCRIBE_TIMEOUT_S = 5.0
# MOVED redirections one publish follows.
MAX_REDIRECTS = 3

Address = tuple[str, int]


@dataclass(frozen=True)
class ClusterURL:
    """What a ``redis-cluster://`` URL says: where to start, and how to log in."""

    seeds: tuple[Address, ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False


def parse_cluster_url(url: str) -> ClusterURL:
    """The seed nodes and credentials of
    ``redis-cluster://[[user]:password@]host:port[,host:port...]`` (``rediss-cluster://``
    for TLS). Any one seed that answers tells where the rest of the cluster is.

    Raises:
        ValueError: the URL is not of that form. The message never shows the password.
    """
    shown = safe_url(url)

    def bad(why: str) -> ValueError:
        return ValueError(f"bad Redis Cluster URL {shown!r}: {why}")

    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise bad("it starts with redis-cluster:// or rediss-cluster://")
    userinfo, at, rest = rest.rpartition("@")
    if "?" in rest or "#" in rest:
        raise bad("it takes no options")
    hosts, _, path = rest.partition("/")
    if path not in ("", "0"):
        raise bad("a cluster has only database 0")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    if not hosts.strip():
        raise bad("it names no node (host:port)")
    seeds: list[Address] = []
    for item in (part.strip() for part in hosts.split(",")):
        if item.startswith("["):  # [IPv6]:port
            host, closed, tail = item[1:].partition("]")
            colon, port = tail[:1], tail[1:]
            if not closed:
                raise bad(f"{item!r} is not host:port")
        else:
            host, colon, port = item.rpartition(":")
        if not host or not colon or not port.isdigit() or not 0 < int(port) < 65536:
            raise bad(f"{item!r} is not host:port")
        seeds.append((host, int(port)))
    return ClusterURL(
        seeds=tuple(dict.fromkeys(seeds)),
        username=username,
        password=password,
        tls=scheme == "rediss-cluster",
    )


def _name(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Trouble(Exception):
    """Why the connections must be rebuilt, when it is not a Redis error."""


@dataclass(eq=False)
class _Link:
    """The subscription connection to one master."""

    address: Address
    conn: Connection
    # SSUBSCRIBE sent, confirmation awaited: True once confirmed, False if the link died.
    waiters: dict[str, asyncio.Future[bool]] = field(default_factory=dict)
    # SUNSUBSCRIBE sent, confirmation awaited. Any other sunsubscribe is the server's own:
    # the channel's slot moved away.
    unsubscribing: dict[str, int] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return _name(self.address)

    def settle(self) -> None:
        waiters, self.waiters = self.waiters, {}
        for waiter in waiters.values():
            if not waiter.done():
                waiter.set_result(False)


class RedisClusterBroker(Broker):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.config = parse_cluster_url(url)
        self._slots: list[Address | None] = []  # owner of each slot; empty until known
        self._masters: list[Address] = []  # asked first on the next rebuild
        self._links: dict[Address, _Link] = {}
        self._clients: dict[Address, aioredis.Redis] = {}  # publishing, one pool per master
        self._channels: set[str] = set()
        self._healthy = False
        # Set (with a reason) by whatever finds the current links broken; a new one per
        # rebuild, so a link of an earlier generation cannot stop the current one.
        self._trouble = asyncio.Event()
        self._trouble_reason = ""
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.reconnects = 0

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def connect(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-cluster-broker")

    async def disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._healthy = False
        await self._close_links()
        self._slots = []  # so a late publish fails rather than open a pool nobody closes
        clients, self._clients = self._clients, {}
        for client in clients.values():
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()

    async def ping(self) -> None:
        if not self._healthy:
            raise BrokerUnavailable("cluster subscription connections are down")
        try:
            await asyncio.gather(*(self._client(a).ping() for a in list(self._links)))
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(str(exc)) from exc

    async def publish(self, channel: str, data: bytes) -> None:
        slot = key_slot(channel.encode())
        address = self._slots[slot] if self._slots else None
        if address is None:
            raise BrokerUnavailable(f"no known master serves slot {slot} yet")
        for _ in range(MAX_REDIRECTS):
            client = self._client(address)
            try:
                await client.execute_command("SPUBLISH", channel, data)  # type: ignore[no-untyped-call]
                return
            except MovedError as exc:
                # The slot has a new owner (a resharding, a failover): go there, and
                # remember it for the next publish. A master that is migrating the slot
                # away still takes SPUBLISH, so there is no ASK to follow.
                address = (exc.host or address[0], int(exc.port))
                self._slots[slot] = address
            except (RedisError, OSError) as exc:
                raise BrokerUnavailable(f"{_name(address)}: {exc}") from exc
        raise BrokerUnavailable(f"slot {slot} kept moving after {MAX_REDIRECTS} redirections")

    async def subscribe(self, channel: str) -> None:
        async with self._lock:
            if channel in self._channels:
                return
            self._channels.add(channel)
            waiter = await self._send_subscribe(channel) if self._healthy else None
        if waiter is not None:
            # Return once the subscription is in place: the hub reads the article's
            # cursor next and counts on hearing every later event. Not confirmed means
            # the link broke: the rebuild resubscribes and resyncs.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter), SUBSCRIBE_TIMEOUT_S)

    async def unsubscribe(self, channel: str) -> None:
        async with self._lock:
            if channel not in self._channels:
                return
            self._channels.discard(channel)
            link = self._link_for(channel) if self._healthy else None
            if link is not None:
                link.unsubscribing[channel] = link.unsubscribing.get(channel, 0) + 1
                await self._send(link, "SUNSUBSCRIBE", channel)

    # -- connections ------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = Backoff()
        connected = lost = False
        while True:
            try:
                await self._open()
                if lost:
                    self.reconnects += 1
                    log.warning(
                        "redis cluster broker reconnected to %s; resyncing from the store",
                        self._safe_url,
                    )
                    self.on_resync()
                else:
                    log.info(
                        "redis cluster broker connected to %s (%d masters)",
                        self._safe_url,
                        len(self._links),
                    )
                connected, lost = True, False
                backoff.reset()
                await self._trouble.wait()
                raise _Trouble(self._trouble_reason)
            except asyncio.CancelledError:
                self._healthy = False
                await self._close_links()
                raise
            except (RedisError, OSError, _Trouble) as exc:
                if not lost:
                    if connected:
                        log.warning("redis cluster broker lost %s; reconnecting", exc)
                    else:
                        log.warning(
                            "redis cluster broker cannot reach %s (%s); retrying",
                            self._safe_url,
                            exc,
                        )
                lost = True
            self._healthy = False
            await self._close_links()
            await backoff.wait()

    async def _open(self) -> None:
        """Link to every master, subscribe every channel on its owner, and be healthy."""
        slots, masters = await self._discover()
        trouble = self._trouble = asyncio.Event()
        self._trouble_reason = ""
        self._slots, self._masters = slots, masters
        self._links = {}
        for address in masters:
            link = _Link(address, self._connection(address))
            self._links[address] = link  # closed by _close_links if a later one fails
            await link.conn.connect()  # type: ignore[no-untyped-call]
            # A master that just came back refuses shard commands until it has rejoined.
            await link.conn.send_command("CLUSTER", "INFO")
            state = _info_field(await link.conn.read_response(), "cluster_state")
            if state != "ok":
                raise _Trouble(f"{link.name} says cluster_state:{state}")
            link.task = asyncio.create_task(
                self._read(link, trouble), name=f"redis-cluster-link {link.name}"
            )
        async with self._lock:
            waiters = []
            for channel in self._channels:
                waiter = await self._send_subscribe(channel)
                if waiter is not None:
                    waiters.append(waiter)
            try:
                confirmed = await asyncio.wait_for(asyncio.gather(*waiters), SUBSCRIBE_TIMEOUT_S)
            except TimeoutError:
                raise _Trouble(
                    f"subscriptions not confirmed within {SUBSCRIBE_TIMEOUT_S:g} s"
                ) from None
            if trouble.is_set() or not all(confirmed):
                raise _Trouble(self._trouble_reason or "subscriptions refused")
            self._healthy = True
        # Publishing pools of masters that are no longer.
        for address in [a for a in self._clients if a not in self._links]:
            with contextlib.suppress(RedisError, OSError):
                await self._clients.pop(address).aclose()

    async def _discover(self) -> tuple[list[Address | None], list[Address]]:
        """The owner of every slot, from the first node that answers and is in a cluster
        that works: the masters known from last time first, then the URL's seeds."""
        failures: list[str] = []
        for address in dict.fromkeys([*self._masters, *self.config.seeds]):
            conn = self._connection(address)
            try:
                await conn.connect()  # type: ignore[no-untyped-call]
                await conn.send_command("CLUSTER", "INFO")
                state = _info_field(await conn.read_response(), "cluster_state")
                if state != "ok":
                    failures.append(f"{_name(address)} says cluster_state:{state}")
                    continue
                await conn.send_command("CLUSTER", "SLOTS")
                return _slot_map(await conn.read_response(), address)
            except (RedisError, OSError) as exc:
                failures.append(f"{_name(address)}: {exc}")
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await conn.disconnect()
        raise _Trouble("no usable cluster node: " + "; ".join(failures))

    async def _read(self, link: _Link, trouble: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        pinged: float | None = None
        try:
            while True:
                reply = await link.conn.read_response(timeout=POLL_S)
                now = loop.time()
                if reply is None:
                    if pinged is not None and now - pinged > IDLE_PING_S:
                        raise _Trouble(
                            f"its connection to {link.name} (no answer to PING within "
                            f"{IDLE_PING_S:g} s)"
                        )
                    if pinged is None and now - heard > IDLE_PING_S:
                        await link.conn.send_command("PING")
                        pinged = now
                    continue
                heard, pinged = now, None
                self._dispatch(link, reply)
        except _Trouble as exc:
            self._lose(trouble, str(exc))
        except ResponseError as exc:  # e.g. MOVED or CLUSTERDOWN for an SSUBSCRIBE
            self._lose(trouble, f"its subscriptions on {link.name} ({exc})")
        except (RedisError, OSError) as exc:
            self._lose(trouble, f"its connection to {link.name} ({exc})")
        finally:
            link.settle()

    def _dispatch(self, link: _Link, reply: Any) -> None:
        if not isinstance(reply, list) or len(reply) != 3:
            return  # a PING's answer
        kind, name, data = reply
        channel = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        if kind == b"smessage":
            # Also drops what was in flight when the channel was unsubscribed: once
            # unsubscribe() returns, the channel is silent, as with the memory broker.
            if channel in self._channels:
                try:
                    self.on_message(channel, data)
                except Exception:
                    log.exception("the handler of %s failed", channel)
        elif kind == b"ssubscribe":
            waiter = link.waiters.pop(channel, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(True)
        elif kind == b"sunsubscribe":
            pending = link.unsubscribing.pop(channel, 0)
            if pending > 1:
                link.unsubscribing[channel] = pending - 1
            elif not pending and channel in self._channels:
                slot = key_slot(channel.encode())
                raise _Trouble(f"its subscriptions in slot {slot}, which moved from {link.name}")

    def _lose(self, trouble: asyncio.Event, reason: str) -> None:
        if trouble is self._trouble and not trouble.is_set():
            self._trouble_reason = reason
            self._healthy = False
            trouble.set()

    async def _close_links(self) -> None:
        links, self._links = list(self._links.values()), {}
        tasks = [link.task for link in links if link.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in links:
            link.settle()
            with contextlib.suppress(RedisError, OSError):
                await link.conn.disconnect()

    def _link_for(self, channel: str) -> _Link | None:
        owner = self._slots[key_slot(channel.encode())] if self._slots else None
        return self._links.get(owner) if owner is not None else None

    async def _send_subscribe(self, channel: str) -> asyncio.Future[bool] | None:
        link = self._link_for(channel)
        if link is None:
            # The slot has no owner, or a publish learnt of a master we have no link to.
            self._lose(self._trouble, f"its way to the master of {channel!r}")
            return None
        waiter = link.waiters.get(channel)
        if waiter is None:
            waiter = link.waiters[channel] = asyncio.get_running_loop().create_future()
        await self._send(link, "SSUBSCRIBE", channel)
        return waiter

    async def _send(self, link: _Link, *args: str) -> None:
        # Never on a closed connection: redis-py would quietly reconnect it, and
        # subscriptions made in between would be lost without a resync.
        if not link.conn.is_connected:
            return
        try:
            await link.conn.send_command(*args)
        except (RedisError, OSError) as exc:
            self._lose(self._trouble, f"its connection to {link.name} ({exc})")
            link.settle()

    def _connection(self, address: Address) -> Connection:
        cls = SSLConnection if self.config.tls else Connection
        return cls(
            host=address[0],
            port=address[1],
            username=self.config.username,
            password=self.config.password,
            socket_timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S,
            # RESP2 whatever redis-py's default: under RESP3 pub/sub replies are push
            # messages, which read_response() does not return.
            protocol=2,
        )

    def _client(self, address: Address) -> aioredis.Redis:
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = aioredis.Redis(
                host=address[0],
                port=address[1],
                username=self.config.username,
                password=self.config.password,
                ssl=self.config.tls,
                socket_timeout=TIMEOUT_S,
                socket_connect_timeout=TIMEOUT_S,
                # One retry covers a pooled connection the server closed meanwhile; more
                # would only hold the publisher up while a master is away.
                retry=Retry(NoBackoff(), 1),
            )
        return client

    @property
    def _safe_url(self) -> str:
        return safe_url(self.url)


def _info_field(info: Any, key: str) -> str:
    text = info.decode() if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return value.strip()
    return "unknown"


def _slot_map(reply: Any, asked: Address) -> tuple[list[Address | None], list[Address]]:
    """CLUSTER SLOTS as the owner of each slot, and the masters."""
    owners: list[Address | None] = [None] * REDIS_CLUSTER_HASH_SLOTS
    masters: dict[Address, None] = {}
    for entry in reply:
        start, end, master = int(entry[0]), int(entry[1]), entry[2]
        host = master[0].decode() if isinstance(master[0], bytes) else master[0]
        if host == "":
            host = asked[0]  # "the endpoint this request was sent to"
        elif not host or host == "?":
            continue  # an endpoint the cluster does not know: those slots have no owner
        address = (host, int(master[1]))
        masters[address] = None
        owners[start : end + 1] = [address] * (end - start + 1)
    return owners, list(masters)
