"""Prometheus metrics without a dependency: counters, gauges and fixed-bucket histograms
with labels, written out in the text exposition format 0.0.4, and ``GET /metrics``.

The node's metrics live in ``Services.metrics`` (no module-level registry). What other
parts already count (open sockets, broker reconnects, publish failures, the classifier's
state, the moderation queue) is read when Prometheus scrapes, not mirrored on every change.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from comments.errors import ApiError
from comments.models import Status
from comments.store import StoreUnavailable
from comments.store.tables import comments

if TYPE_CHECKING:
    from comments.services import Services

log = logging.getLogger("comments.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Scoring takes milliseconds with the bundled model and up to the classifier timeout
# (5 s by default) with Detoxify under load.
SCORING_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
QUEUE_QUERY_TIMEOUT_S = 2.0
CLASSIFIER_STATES = ("ok", "fallback", "failed")

Sample = tuple[str, tuple[tuple[str, str], ...], float]


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


class Family:
    """One metric name: its help, type, label names and a value per label set."""

    type = "untyped"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"bad metric name {name!r}")
        for label in labels:
            if not _LABEL.fullmatch(label) or label.startswith("__") or label == "le":
                raise ValueError(f"bad label name {label!r}")
        self.name = name
        self.help = help
        self.labels = tuple(labels)

    def _key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {sorted(labels)}")
        return tuple(str(labels[name]) for name in self.labels)

    def _pairs(self, key: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        return tuple(zip(self.labels, key, strict=True))

    def samples(self) -> Iterator[Sample]:
        raise NotImplementedError


class _Scalar(Family):
    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[tuple[str, ...], float] = {}
        if not self.labels:
            self._values[()] = 0.0  # a metric without labels is always shown

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterator[Sample]:
        for key, value in sorted(self._values.items()):
            yield self.name, self._pairs(key), value


class Counter(_Scalar):
    """A total that only goes up (restarts at 0 with the process)."""

    type = "counter"

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount


class Gauge(_Scalar):
    """A value that goes up and down."""

    type = "gauge"

    def set(self, value: float, **labels: str) -> None:
        self._values[self._key(labels)] = float(value)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount


class Histogram(Family):
    """Observations counted into fixed buckets (``le``), with their sum and count."""

    type = "histogram"

    def __init__(
        self, name: str, help: str, labels: Sequence[str] = (), *, buckets: Sequence[float]
    ) -> None:
        super().__init__(name, help, labels)
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError("a histogram needs distinct finite buckets")
        self.bounds = (*bounds, math.inf)
        self._counts: dict[tuple[str, ...], list[int]] = {}
        self._sums: dict[tuple[str, ...], float] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        counts = self._counts.setdefault(key, [0] * len(self.bounds))
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                counts[i] += 1
                break
        self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, **labels: str) -> int:
        return sum(self._counts.get(self._key(labels), ()))

    def samples(self) -> Iterator[Sample]:
        for key, counts in sorted(self._counts.items()):
            pairs = self._pairs(key)
            running = 0
            for bound, n in zip(self.bounds, counts, strict=True):
                running += n
                yield f"{self.name}_bucket", (*pairs, ("le", format_value(bound))), running
            yield f"{self.name}_sum", pairs, self._sums[key]
            yield f"{self.name}_count", pairs, running


def render(families: Iterable[Family]) -> str:
    """The text exposition format 0.0.4: HELP and TYPE, then one line per sample."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for name, pairs, value in family.samples():
            labels = ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs)
            braces = f"{{{labels}}}" if labels else ""
            lines.append(f"{name}{braces} {format_value(value)}")
    return "\n".join(lines) + "\n"


class Metrics:
    """What the node counts as it works; the rest is read at scrape time (``scrape``)."""

    def __init__(self) -> None:
        self.posts = Counter(
            "comments_posts_total",
            "Comment posts by outcome: decision published, held or rejected (code empty), "
            "or refused with the error code it got.",
            ["decision", "code"],
        )
        self.events_delivered = Counter(
            "comments_events_delivered_total",
            "Article events (comment.published, comment.removed) sent to public sockets; "
            "each event of a batch frame counts.",
        )
        self.scoring_seconds = Histogram(
            "comments_scoring_seconds",
            "Time to score one comment, waiting for its batch included, by outcome "
            "(ok, or unavailable when the comment was held unscored).",
            ["outcome"],
            buckets=SCORING_BUCKETS,
        )
        self.rate_limited = Counter(
            "comments_rate_limited_total",
            "Requests refused by a rate limit (429), by limit: post_ip, post_author, "
            "report, report_author, sockets_per_ip.",
            ["limit"],
        )

    def own(self) -> list[Family]:
        return [self.posts, self.events_delivered, self.scoring_seconds, self.rate_limited]


async def held_counts(svc: Services) -> dict[str, int]:
    """Held comments per site: the moderation queue's depth, the same on every node.

    A COUNT at scrape time rather than a gauge kept on transitions: comments are held and
    decided on every node, so only the database knows the total. It reads the
    (site, status) index for each site, which costs a few milliseconds every scrape.
    """
    sites = await svc.store.list_sites()
    if not sites:
        return {}
    query = (
        sa.select(comments.c.site, sa.func.count())
        .where(comments.c.site.in_(sites), comments.c.status == str(Status.HELD))
        .group_by(comments.c.site)
    )
    async with svc.store._read() as conn:  # the store's own outage handling
        found = {row[0]: int(row[1]) for row in await conn.execute(query)}
    return {site: found.get(site, 0) for site in sites}


async def scrape(svc: Services) -> str:
    """Every metric of this node, as Prometheus reads it."""
    hub = svc.hub
    sockets = Gauge(
        "comments_open_sockets",
        "WebSocket connections open on this node: public article streams and moderators' "
        "queue feeds.",
        ["kind"],
    )
    sockets.set(hub.sockets, kind="public")
    sockets.set(sum(len(s) for s in svc.feed.sites.values()), kind="moderation")
    channels = Gauge(
        "comments_live_articles", "Articles with at least one open socket on this node."
    )
    channels.set(len(hub.channels))

    queue = Gauge(
        "comments_queue_held",
        "Held comments waiting for a moderator, per site (a database count at scrape time; "
        "absent while the database is unavailable).",
        ["site"],
    )
    try:
        for site, n in (await asyncio.wait_for(held_counts(svc), QUEUE_QUERY_TIMEOUT_S)).items():
            queue.set(n, site=site)
    except (StoreUnavailable, TimeoutError) as exc:
        log.debug("queue depth not read: %s", exc)

    reconnects = Counter(
        "comments_broker_reconnects_total",
        "Times the broker connection was re-established after a loss (0 for memory://).",
    )
    reconnects.inc(getattr(svc.broker, "reconnects", 0))
    broker_up = Gauge("comments_broker_up", "1 while the broker is connected, else 0.")
    broker_up.set(1 if svc.broker.healthy else 0)
    publish_failures = Counter(
        "comments_publish_failures_total",
        "Events stored but not handed to the broker (other nodes read them from the store).",
    )
    publish_failures.inc(hub.publish_failures)
    limit_fallbacks = Counter(
        "comments_rate_limit_fallbacks_total",
        "Rate-limit checks made in this node's memory because Redis was unavailable.",
    )
    limit_fallbacks.inc(getattr(svc.limiter, "fallbacks", 0))

    status = svc.scorer.status()
    classifier = Gauge(
        "comments_classifier_state",
        "1 for the classifier's current state (ok, fallback, failed), 0 for the others.",
        ["classifier", "state"],
    )
    for state in CLASSIFIER_STATES:
        classifier.set(1 if status.state == state else 0, classifier=status.name, state=state)

    return render(
        [
            *svc.metrics.own(),
            sockets,
            channels,
            queue,
            reconnects,
            broker_up,
            publish_failures,
            limit_fallbacks,
            classifier,
        ]
    )


# -- who may scrape ----------------------------------------------------------------------


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow(raw: str) -> tuple[Network, ...]:
    """``COMMENTS_METRICS_ALLOW``: comma-separated addresses or networks (CIDR).

    Raises:
        ValueError: an entry is neither.
    """
    networks = []
    for part in raw.split(","):
        if part.strip():
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
    return tuple(networks)


def allowed(host: str | None, networks: Sequence[Network]) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


async def metrics_endpoint(request: Request) -> Response:
    svc: Services = request.state.services
    # Not for the internet: operators list their Prometheus servers' addresses.
    client = request.client.host if request.client else None
    if not allowed(client, parse_allow(svc.settings.metrics_allow)):
        raise ApiError(403, "forbidden", "metrics are served to COMMENTS_METRICS_ALLOW only")
    return Response(
        await scrape(svc), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"}
    )


routes = [Route("/metrics", metrics_endpoint, methods=["GET"])]
