"""``GET /metrics``: this node's metrics, for the addresses allowed to scrape them.

What other parts already count (open sockets, broker reconnects, publish failures, the
classifier's state, the moderation queue) is read at scrape time, not mirrored.
"""

from __future__ import annotations

import asyncio
import logging
from typing import get_args

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from comments.node import Node
from comments.observability.metrics import (
    CONTENT_TYPE,
    Counter,
    Gauge,
    allowed,
    parse_allow,
    render,
)
from comments.scoring.classifier.base import ClassifierState
from comments.store import StoreUnavailable
from comments.web.errors import ApiError

log = logging.getLogger("comments.metrics")

QUEUE_QUERY_TIMEOUT_S = 2.0
CLASSIFIER_STATES = get_args(ClassifierState)


async def scrape(svc: Node) -> str:
    """Every metric of this node, as Prometheus reads it."""
    hub = svc.hub
    sockets = Gauge(
        "comments_open_sockets",
        "WebSocket connections open on this node: public article streams, live counts and "
        "moderators' queue feeds.",
        ["kind"],
    )
    sockets.set(hub.sockets, kind="public")
    sockets.set(svc.counts.sockets, kind="counts")
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
        for site, n in (
            await asyncio.wait_for(svc.review.held_counts(), QUEUE_QUERY_TIMEOUT_S)
        ).items():
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
    like_frames = Counter(
        "comments_like_frames_total",
        "Live like-count frames queued for sockets (coalesced: one per comment per second).",
    )
    like_frames.inc(hub.like_frames)
    count_frames = Counter(
        "comments_count_frames_total",
        "Live count frames queued for count sockets (coalesced: one per socket per second).",
    )
    count_frames.inc(svc.counts.frames)
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

    cache = svc.read_cache
    cache_hits = Counter("comments_read_cache_hits_total", "Anonymous reads answered from cache.")
    cache_hits.inc(cache.hits)
    cache_misses = Counter(
        "comments_read_cache_misses_total", "Anonymous reads built because not in cache."
    )
    cache_misses.inc(cache.misses)
    cache_evictions = Counter(
        "comments_read_cache_evictions_total", "Cached answers dropped for the byte budget."
    )
    cache_evictions.inc(cache.evictions)
    cache_bytes = Gauge("comments_read_cache_bytes", "Bytes of answers held in the read cache.")
    cache_bytes.set(cache.size)
    marks = svc.hub.read_marks
    marks_trusted = Counter(
        "comments_read_marks_trusted_total",
        "Anonymous reads whose article marks came without a database query.",
    )
    marks_trusted.inc(marks.trusted_reads)
    marks_learnt = Counter(
        "comments_read_marks_learnt_total", "Article marks read from the database and kept."
    )
    marks_learnt.inc(marks.learnt)
    watched = Gauge(
        "comments_read_watched_articles", "Articles watched through the broker for cached reads."
    )
    watched.set(len(marks.watches))
    return render(
        [
            *svc.metrics.own(),
            sockets,
            channels,
            queue,
            reconnects,
            broker_up,
            publish_failures,
            like_frames,
            count_frames,
            limit_fallbacks,
            classifier,
            cache_hits,
            cache_misses,
            cache_evictions,
            marks_trusted,
            marks_learnt,
            watched,
            cache_bytes,
        ]
    )


async def metrics_endpoint(request: Request) -> Response:
    svc: Node = request.state.node
    # Not for the internet: operators list their Prometheus servers' addresses.
    client = request.client.host if request.client else None
    if not allowed(client, parse_allow(svc.settings.metrics_allow)):
        raise ApiError(403, "forbidden", "metrics are served to COMMENTS_METRICS_ALLOW only")
    return Response(
        await scrape(svc), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"}
    )


routes = [Route("/metrics", metrics_endpoint, methods=["GET"])]
