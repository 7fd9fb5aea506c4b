"""Prometheus metrics without a dependency: counters, gauges and fixed-bucket histograms
with labels, written out in the text exposition format 0.0.4; who may scrape them.

The node's metrics live in ``Node.metrics`` (no module-level registry). What other
parts already count (open sockets, broker reconnects, publish failures, the classifier's
state, the moderation queue) is read when Prometheus scrapes (``comments.web.metrics``),
not mirrored on every change. This module depends on nothing else in the package.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Scoring takes milliseconds with the bundled model and up to the classifier timeout
# (5 s by default) with Detoxify under load.
SCORING_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

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
            "Comment posts by outcome: decision published, held, rejected or shadowed (code "
            "empty), "
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
            "report, report_author, like_ip, like_reader, sockets_per_ip.",
            ["limit"],
        )

    def own(self) -> list[Family]:
        return [self.posts, self.events_delivered, self.scoring_seconds, self.rate_limited]


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
