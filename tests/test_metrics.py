"""``/metrics``: what an operator's Prometheus reads — the text format it parses, the
numbers a node counts as readers post, watch and get refused, what is read at scrape time
(sockets, the moderation queue, the broker, the classifier), and who may scrape."""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from comments.observability.metrics import Counter, Gauge, Histogram, allowed, parse_allow, render
from comments.settings import Settings, SettingsError
from tests.conftest import PrivateRedis, RunningServer, add_site, wait_until
from tests.moderation import (
    CLEAN,
    TOXIC,
    Guest,
    mod_settings,
    new_moderator,
    open_public,
    post,
    posted,
    thread_url,
)

# -- a strict reader of the text format (what Prometheus would refuse, this refuses) -------

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def _number(text: str) -> float:
    return {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(text) or float(text)


@dataclass
class Scrape:
    types: dict[str, str] = field(default_factory=dict)
    helps: dict[str, str] = field(default_factory=dict)
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(default_factory=dict)

    def get(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def value(self, name: str, **labels: str) -> float:
        found = self.get(name, **labels)
        assert found is not None, f"no sample {name}{labels}"
        return found


def parse(text: str) -> Scrape:
    """Parse the exposition format 0.0.4, asserting every rule a scraper relies on."""
    assert text.endswith("\n")
    scrape = Scrape()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in scrape.helps, f"second HELP for {name}"
            scrape.helps[name] = _unescape(help_text)
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in scrape.types, f"second TYPE for {name}"
            scrape.types[name] = kind
        else:
            match = _SAMPLE.fullmatch(line)
            assert match, f"not a sample line: {line!r}"
            name, raw_labels, raw_value = match.groups()
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in scrape.types or family in scrape.types, f"{name} before its TYPE"
            labels: list[tuple[str, str]] = []
            rest = raw_labels or ""
            while rest:
                pair = _PAIR.match(rest)
                assert pair, f"bad labels in {line!r}"
                labels.append((pair.group(1), _unescape(pair.group(2))))
                rest = rest[pair.end() :]
            key = (name, frozenset(labels))
            assert key not in scrape.samples, f"duplicate sample {line!r}"
            scrape.samples[key] = _number(raw_value)
    # Histograms: cumulative buckets ending at +Inf, which equals _count.
    for name, kind in scrape.types.items():
        if kind != "histogram":
            continue
        series: dict[frozenset[tuple[str, str]], list[tuple[float, float]]] = {}
        for (sample, labels), value in scrape.samples.items():
            if sample == f"{name}_bucket":
                le = dict(labels)["le"]
                rest = frozenset(p for p in labels if p[0] != "le")
                series.setdefault(rest, []).append((_number(le), value))
        for labels, buckets in series.items():
            counts = [v for _, v in sorted(buckets)]
            assert counts == sorted(counts), f"{name} buckets are not cumulative"
            assert sorted(buckets)[-1][0] == math.inf
            assert counts[-1] == scrape.samples[(f"{name}_count", labels)]
    return scrape


# -- the format ----------------------------------------------------------------------------


def test_text_format_with_escaped_help_and_label_values() -> None:
    posts = Counter("t_posts_total", 'Posts.\nBy "decision" \\ code.', ["decision"])
    posts.inc(decision='he said "hi"\\\n')
    posts.inc(2, decision="published")
    sockets = Gauge("t_sockets", "Open sockets.")
    sockets.set(3)
    empty = Counter("t_refused_total", "Nothing yet.", ["code"])
    assert render([posts, sockets, empty]) == (
        '# HELP t_posts_total Posts.\\nBy "decision" \\\\ code.\n'
        "# TYPE t_posts_total counter\n"
        't_posts_total{decision="he said \\"hi\\"\\\\\\n"} 1\n'
        't_posts_total{decision="published"} 2\n'
        "# HELP t_sockets Open sockets.\n"
        "# TYPE t_sockets gauge\n"
        "t_sockets 3\n"
        "# HELP t_refused_total Nothing yet.\n"
        "# TYPE t_refused_total counter\n"
    )
    scrape = parse(render([posts, sockets, empty]))
    assert scrape.value("t_posts_total", decision='he said "hi"\\\n') == 1
    assert scrape.helps["t_posts_total"] == 'Posts.\nBy "decision" \\ code.'


def test_histogram_buckets_are_cumulative_and_inclusive() -> None:
    h = Histogram("t_seconds", "Latency.", ["outcome"], buckets=[0.1, 1, 0.5])
    for value in (0.05, 0.1, 0.3, 0.5, 2.0, 7.5):
        h.observe(value, outcome="ok")
    scrape = parse(render([h]))
    buckets = {
        le: scrape.value("t_seconds_bucket", outcome="ok", le=le)
        for le in ("0.1", "0.5", "1", "+Inf")
    }
    assert buckets == {"0.1": 2, "0.5": 4, "1": 4, "+Inf": 6}  # le is "less or equal"
    assert scrape.value("t_seconds_count", outcome="ok") == 6
    assert scrape.value("t_seconds_sum", outcome="ok") == pytest.approx(10.45)
    assert scrape.types["t_seconds"] == "histogram"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Counter("9starts_with_digit", "x"), id="bad-metric-name"),
        pytest.param(lambda: Counter("has-dash", "x"), id="dash-in-name"),
        pytest.param(lambda: Counter("ok", "x", ["bad-label"]), id="bad-label-name"),
        pytest.param(lambda: Counter("ok", "x", ["__reserved"]), id="reserved-label"),
        pytest.param(lambda: Histogram("ok", "x", ["le"], buckets=[1]), id="le-label"),
        pytest.param(lambda: Histogram("ok", "x", buckets=[]), id="no-buckets"),
        pytest.param(lambda: Counter("ok", "x", ["a"]).inc(b="1"), id="wrong-label"),
        pytest.param(lambda: Counter("ok", "x", ["a"]).inc(), id="missing-label"),
        pytest.param(lambda: Counter("ok", "x").inc(-1), id="counter-going-down"),
    ],
)
def test_mistakes_in_metric_definitions_fail_loudly(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()


# -- who may scrape ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allow", "host", "expected"),
    [
        ("127.0.0.1,::1", "127.0.0.1", True),
        ("127.0.0.1,::1", "::1", True),
        ("127.0.0.1,::1", "::ffff:127.0.0.1", True),  # IPv4 on a dual-stack socket
        ("127.0.0.1,::1", "10.0.0.5", False),
        ("127.0.0.1,::1", "203.0.113.9", False),
        ("10.0.0.0/8, 192.168.1.7", "10.200.3.4", True),
        ("10.0.0.0/8, 192.168.1.7", "192.168.1.8", False),
        ("", "127.0.0.1", False),
        ("127.0.0.1", "localhost", False),  # a name is not an address
        ("127.0.0.1", None, False),
    ],
    ids=lambda v: repr(v),
)
def test_allow_list(allow: str, host: str | None, expected: bool) -> None:
    assert allowed(host, parse_allow(allow)) is expected


def test_allow_list_setting() -> None:
    assert Settings.from_env({}).metrics_allow == "127.0.0.1,::1"
    chosen = Settings.from_env({"COMMENTS_METRICS_ALLOW": "10.0.0.0/8,fd00::/8"})
    assert chosen.metrics_allow == "10.0.0.0/8,fd00::/8"
    assert Settings.from_env({"COMMENTS_METRICS_ALLOW": ""}).metrics_allow == ""
    with pytest.raises(SettingsError, match="COMMENTS_METRICS_ALLOW"):
        Settings.from_env({"COMMENTS_METRICS_ALLOW": "prometheus.internal"})


Serve = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
def serve(sqlite_url: str, channel_prefix: str, start_server: Any) -> Serve:
    async def serve(broker_url: str = "memory://", **changes: Any) -> RunningServer:
        await add_site(sqlite_url)
        settings = mod_settings(sqlite_url, broker_url, channel_prefix, **changes)
        server: RunningServer = await start_server(settings)
        return server

    return serve


@pytest.mark.parametrize(
    ("allow", "status"),
    [("127.0.0.1,::1", 200), ("127.0.0.0/8", 200), ("10.0.0.0/8", 403), ("::1", 403), ("", 403)],
    ids=["default", "network", "other-network", "ipv6-only", "nobody"],
)
async def test_metrics_are_served_only_to_allowed_addresses(
    serve: Serve, allow: str, status: int
) -> None:
    server = await serve(metrics_allow=allow)
    async with server.client() as http:
        r = await http.get("/metrics")
    assert r.status_code == status
    if status == 200:
        assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert "comments_posts_total" in parse(r.text).types
    else:
        assert r.json()["error"]["code"] == "forbidden"
        assert "comments_" not in r.text


async def test_internet_clients_behind_a_trusted_proxy_are_refused(
    sqlite_url: str, channel_prefix: str, start_server: Any
) -> None:
    """Behind a load balancer on this host, the reader's own address is what counts."""
    await add_site(sqlite_url)
    settings = mod_settings(sqlite_url, "memory://", channel_prefix, trusted_proxies="127.0.0.1")
    server: RunningServer = await start_server(settings)
    async with server.client() as http:
        outside = await http.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        inside = await http.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert outside.status_code == 403
    assert inside.status_code == 200


# -- what a node counts ----------------------------------------------------------------------


async def scrape(http: httpx.AsyncClient) -> Scrape:
    r = await http.get("/metrics")
    assert r.status_code == 200, r.text
    return parse(r.text)


async def test_a_node_counts_what_readers_and_moderators_do(
    database_url: str, channel_prefix: str, start_server: Any
) -> None:
    await add_site(database_url)
    await add_site(database_url, "tight", posts_per_minute_per_author=1)
    settings = mod_settings(database_url, "memory://", channel_prefix, max_sockets_per_ip=2)
    server: RunningServer = await start_server(settings)
    async with server.client() as http:
        first = await scrape(http)
        assert first.value("comments_open_sockets", kind="public") == 0
        assert first.value("comments_queue_held", site="news") == 0
        assert first.value("comments_events_delivered_total") == 0
        assert first.value("comments_classifier_state", classifier="profanity-check", state="ok")
        assert first.value("comments_broker_up") == 1
        assert first.value("comments_broker_reconnects_total") == 0

        one, two = await open_public(server), await open_public(server)
        with pytest.raises(InvalidStatus) as refused:  # max_sockets_per_ip=2
            await websockets.connect(f"{server.ws_url}/ws/v1/sites/news/articles/x")
        assert refused.value.response.status_code == 429

        async def two_open() -> bool:
            s = await scrape(http)
            return s.value("comments_open_sockets", kind="public") == 2

        await wait_until(two_open)

        ana = Guest("Ana")
        clean = await posted(http, CLEAN, 201, guest=ana)
        assert (await post(http, CLEAN, guest=ana)).status_code == 409  # same text again
        await posted(http, TOXIC, 202)
        assert [e["type"] for e in (await one.next(), await two.next())] == [
            "comment.published"
        ] * 2
        r = await http.delete(f"{thread_url()}/{clean['id']}", headers=ana.headers())
        assert r.status_code == 200
        assert [e["type"] for e in (await one.next(), await two.next())] == ["comment.removed"] * 2

        # More refusals, each with its code.
        r = await http.post(thread_url(), json={"body": "who am I?"})
        assert r.status_code == 401
        r = await http.post(thread_url(), json={"body": "   ", "author_name": "Bo"})
        assert r.status_code == 422
        bo = Guest("Bo")
        assert (await post(http, "first", guest=bo, site="tight")).status_code == 201
        r = await post(http, "second", guest=bo, site="tight")
        assert r.status_code == 429

        # Reports: 30 a minute from one address, then 429.
        target = await posted(http, "report me", 201)
        report_url = f"{thread_url()}/{target['id']}/report"
        codes = [(await http.post(report_url, json={})).status_code for _ in range(31)]
        assert codes == [202] * 30 + [429]

        async def delivered() -> bool:
            s = await scrape(http)
            # published and removed to both sockets, then "report me" to both
            return s.value("comments_events_delivered_total") == 6

        await one.next()
        await two.next()
        await wait_until(delivered)

        s = await scrape(http)
        posts = {
            (dict(labels)["decision"], dict(labels)["code"]): value
            for (name, labels), value in s.samples.items()
            if name == "comments_posts_total"
        }
        assert posts == {
            ("published", ""): 3,  # CLEAN, "first" on tight, "report me"
            ("held", ""): 1,
            ("refused", "duplicate"): 1,
            ("refused", "unauthenticated"): 1,
            ("refused", "empty_body"): 1,
            ("refused", "rate_limited"): 1,
        }
        for limit in ("post_author", "report", "sockets_per_ip"):
            assert s.value("comments_rate_limited_total", limit=limit) == 1, limit
        assert s.get("comments_rate_limited_total", limit="post_ip") is None
        # Every post that reached the classifier, and only those, was timed.
        assert s.value("comments_scoring_seconds_count", outcome="ok") == 4
        assert s.value("comments_queue_held", site="news") == 1
        assert s.value("comments_queue_held", site="tight") == 0
        assert s.value("comments_live_articles") == 1
        assert s.value("comments_publish_failures_total") == 0

        # The queue depth is the database's: a moderator's approval shows at once.
        mod = await new_moderator(server, http)
        (item,) = await mod.queue()
        await mod.decided("approve", item["id"])
        assert (await scrape(http)).value("comments_queue_held", site="news") == 0

        await one.close()
        await two.close()

        async def none_open() -> bool:
            s = await scrape(http)
            return s.value("comments_open_sockets", kind="public") == 0

        await wait_until(none_open)
        assert (await scrape(http)).value("comments_live_articles") == 0


async def test_a_failed_classifier_shows_as_failed_with_held_posts(
    serve: Serve, tmp_path: Path
) -> None:
    """README, Operations: classifier failing → comments held, state "failed"."""
    server = await serve(
        classifier="detoxify",
        detoxify_checkpoint=str(tmp_path / "missing.ckpt"),
        detoxify_config_dir=str(tmp_path),
    )
    async with server.client() as http:
        held = await posted(http, CLEAN, 202)
        assert held["status"] == "held"
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["classifier"]["state"] == "failed"
        s = await scrape(http)
    name = ready.json()["classifier"]["name"]
    assert s.value("comments_classifier_state", classifier=name, state="failed") == 1
    assert s.value("comments_classifier_state", classifier=name, state="ok") == 0
    assert s.value("comments_posts_total", decision="held", code="") == 1
    assert s.get("comments_posts_total", decision="published", code="") is None
    assert s.value("comments_scoring_seconds_count", outcome="unavailable") == 1
    assert s.value("comments_queue_held", site="news") == 1


@pytest.mark.redis
async def test_redis_outage_shows_as_broker_down_then_a_reconnect(
    serve: Serve, private_redis: PrivateRedis
) -> None:
    """README, Operations: Redis down → posts still 201, publish failures counted,
    broker_up 0; back → one reconnect."""
    server = await serve(private_redis.url)
    async with server.client() as http:
        before = await scrape(http)
        assert before.value("comments_broker_up") == 1
        assert before.value("comments_broker_reconnects_total") == 0

        private_redis.stop()

        async def broker_down() -> bool:
            return (await scrape(http)).value("comments_broker_up") == 0

        await wait_until(broker_down, timeout=15)
        await posted(http, CLEAN, 201)

        async def publish_failed() -> bool:
            return (await scrape(http)).value("comments_publish_failures_total") >= 1

        await wait_until(publish_failed, timeout=15)
        assert (await http.get("/readyz")).status_code == 503

        private_redis.start()

        async def reconnected() -> bool:
            s = await scrape(http)
            return (
                s.value("comments_broker_reconnects_total") == 1
                and s.value("comments_broker_up") == 1
            )

        await wait_until(reconnected, timeout=30)
