"""Settings: the only reader of ``COMMENTS_*`` environment variables.

Read once at start-up (``Settings.from_env``) and passed in; nothing else in the package
looks at the environment, so tests build a ``Settings`` directly.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

# The classifier factory's table of names; importing it does not import torch.
from comments.scoring.classifier.factory import DETOXIFY_BACKENDS
from comments.sites import SiteSettingError, normalize_origin

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./comments.db"
# Single sign-on tokens may not be valid for longer than this ahead (30 days).
SSO_MAX_TTL_S = 30 * 24 * 3600
# Addresses `comments serve --host` takes to mean "this machine", whose browsers say
# 127.0.0.1, localhost or [::1] in their Origin header.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
ANY_HOST = ("0.0.0.0", "::", "")
SCORING_MODES = ("inline", "workers")
# Scoring jobs travel on a Redis Stream, so workers need Redis (one server or a cluster).
WORKER_BROKERS = ("redis://", "rediss://", "redis-cluster://", "rediss-cluster://")


class SettingsError(ValueError):
    """A ``COMMENTS_*`` variable holds a value that cannot be used."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must be >= 0, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _networks(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, default)
    for part in raw.split(","):
        if part.strip():
            try:
                ipaddress.ip_network(part.strip(), strict=False)
            except ValueError:
                raise SettingsError(
                    f"{name} takes addresses or networks (CIDR), comma-separated; got {part!r}"
                ) from None
    return raw


SECRET_MIN = 32


def _secret(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) < SECRET_MIN:
        raise SettingsError(
            f"{name} must be at least {SECRET_MIN} characters (e.g. `openssl rand -hex 32`)"
        )
    return raw


def _choice(env: Mapping[str, str], name: str, default: str, choices: Collection[str]) -> str:
    raw = env.get(name) or default
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}; got {raw!r}")
    return raw


def _origin(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = (env.get(name) or "").strip()
    if not raw:
        return ()
    try:
        return (normalize_origin(raw),)
    except SiteSettingError as exc:
        raise SettingsError(
            f"{name} is the URL browsers reach this server at, scheme://host[:port] "
            f"(https://comments.example.com): {exc}"
        ) from None


def normalize_database_url(url: str) -> str:
    """Map the URLs operators write to the async drivers we ship."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise SettingsError(
        f"COMMENTS_DATABASE_URL must be a sqlite:// or postgresql:// URL, got {url!r}"
    )


@dataclass(frozen=True)
class Settings:
    """Everything the server is configured with (see README, Configuration)."""

    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str = "memory://"
    # Prefix of every broker channel, so several deployments (or test runs) can share
    # one Redis without hearing each other.
    channel_prefix: str = "comments"
    max_sockets_per_ip: int = 1000
    # Events queued for one socket before it is closed with 1013 as too slow.
    socket_queue_events: int = 2000
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    ws_per_message_deflate: bool = False
    # comments/server/gc_tuning.py: freeze start-up objects, refreeze every interval,
    # higher generation-0 threshold (`comments serve` only). 0 = the interpreter's GC.
    gc_tuning: bool = True
    gc_freeze_interval_s: float = 2.0
    # A socket whose send buffer stays over its high-water mark (the client is not
    # reading) this long is closed with 1013 and its buffer dropped; 0 = never (reading
    # from it still pauses meanwhile, so it cannot make the server write more).
    ws_stall_timeout_s: float = 20.0
    # Frames a client may send on a socket per second (pings, pongs, anything), with
    # bursts of five seconds' worth; beyond it the socket is closed with 1008. 0 = no limit.
    ws_frames_per_s: float = 10.0
    # Addresses whose X-Forwarded-For / X-Forwarded-Proto are believed ("" = nobody).
    trusted_proxies: str = ""
    # A request must arrive whole (head and body) this long after its first byte, or it
    # is answered 408 and its connection closed: slow senders cannot hold connections.
    request_timeout_s: float = 20.0
    # How long an out-of-order event waits for the ones before it before the hub reads
    # the gap from the store.
    gap_wait_s: float = 0.05
    # How often every live article is checked against the store, a safety net for an
    # event whose broker message was lost (e.g. published while Redis was away).
    resync_interval_s: float = 5.0
    site_cache_s: float = 2.0
    # Cached anonymous reads (thread first pages, counts): byte budget (0: off), and the
    # Cache-Control max-age / stale-while-revalidate offered to browsers and CDNs.
    read_cache_bytes: int = 32 * 1024 * 1024
    read_cache_max_age_s: int = 2
    read_cache_swr_s: int = 10
    # Articles a node watches (broker subscriptions) so that cached reads of them need
    # no database query (comments.live.read_marks); the least recently read leave first.
    read_cache_watch_max: int = 10_000
    classifier: str = "auto"
    detoxify_checkpoint: str | None = None
    detoxify_config_dir: str | None = None
    # How Detoxify runs: "torch", "onnx" (ONNX Runtime, same scores, faster) or
    # "onnx-int8" (int8 weights: faster again, scores drift; opt-in).
    detoxify_backend: str = "torch"
    torch_threads: int = 1
    classifier_timeout_s: float = 5.0
    classifier_batch_size: int = 16
    # 0: a comment that finds the classifier idle is scored at once; batches form from
    # the comments that queue while one is being scored (no latency added when quiet).
    classifier_batch_wait_ms: float = 0.0
    # How often held-unscored and abandoned pending comments are looked for.
    recover_interval_s: float = 5.0
    # Who scores posts: "inline" (this node's classifier) or "workers" (`comments
    # worker` processes fed through a Redis Stream; needs a Redis or Redis Cluster URL).
    scoring: str = "inline"
    # How long a post waits for a worker's decision before the node holds it unscored
    # (a worker scores it later and publishes it if clean).
    worker_timeout_s: float = 10.0
    # A job a worker took and left unacknowledged this long is claimed by another
    # worker: longer than scoring one batch takes, short enough to notice a dead worker.
    worker_claim_idle_s: float = 30.0
    log_json: bool = False
    # Addresses and networks served /metrics (comma-separated; "" = nobody), and the
    # details (paths, addresses, errors) of /readyz.
    metrics_allow: str = "127.0.0.1,::1"
    # The server's own origins, the only ones besides a site's allowed origins that may
    # write and open sockets from a browser: COMMENTS_PUBLIC_URL's. Never taken from a
    # request's Host header (anyone's DNS name can point at this server). Empty: only the
    # sites' origins (`comments serve` and `demo` then use the address they listen on:
    # ``serving_at``).
    own_origins: tuple[str, ...] = ()
    # Refuse SSO tokens whose exp is further ahead than this (0: no maximum).
    sso_max_ttl_s: int = SSO_MAX_TTL_S
    # Reports' reader identities and network keys are forgotten after this (GDPR).
    personal_data_retention_days: int = 30
    # The key of the network keys (HMAC-SHA256 of a reader's network): kept out of the
    # database, a stolen database cannot be matched against addresses. None: one is
    # generated and kept in the database, shared by every node.
    secret_key: str | None = field(default=None, repr=False)
    # Webhooks (docs/operations.md): may they go to loopback/private addresses; the
    # first retry's delay (doubling, with jitter, up to an hour); how long to retry.
    webhook_allow_private: bool = False
    webhook_backoff_s: float = 5.0
    webhook_retry_s: float = 24 * 3600.0
    webhook_timeout_s: float = 5.0
    # Delivered and given-up webhook messages, and sent, failed or dropped reply mails,
    # are deleted after this many days (their logs would grow forever).
    webhook_log_retention_days: int = 30
    mail_log_retention_days: int = 30
    # Reply e-mails (docs/operations.md, "Reply e-mails"): None = off. The sender's
    # address; replies within the digest window make one mail; at most this many mails
    # per recipient an hour; the first retry's delay after a refusal (doubling, 1 h max).
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str = ""
    mail_digest_s: float = 600.0
    mail_per_hour: int = 10
    mail_backoff_s: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``COMMENTS_*`` variables; raise SettingsError on bad ones."""
        env = os.environ if env is None else env
        d = cls()
        built = cls(
            database_url=normalize_database_url(env.get("COMMENTS_DATABASE_URL") or d.database_url),
            broker_url=env.get("COMMENTS_REDIS_URL") or d.broker_url,
            channel_prefix=env.get("COMMENTS_CHANNEL_PREFIX") or d.channel_prefix,
            max_sockets_per_ip=_int(env, "COMMENTS_MAX_SOCKETS_PER_IP", d.max_sockets_per_ip),
            socket_queue_events=_int(
                env, "COMMENTS_SOCKET_QUEUE_EVENTS", d.socket_queue_events, minimum=1
            ),
            ws_ping_interval=_float(env, "COMMENTS_WS_PING_INTERVAL", d.ws_ping_interval),
            ws_ping_timeout=_float(env, "COMMENTS_WS_PING_TIMEOUT", d.ws_ping_timeout),
            ws_per_message_deflate=_bool(env, "COMMENTS_WS_DEFLATE", d.ws_per_message_deflate),
            gc_tuning=_bool(env, "COMMENTS_GC_TUNING", d.gc_tuning),
            gc_freeze_interval_s=_float(
                env, "COMMENTS_GC_FREEZE_INTERVAL_S", d.gc_freeze_interval_s
            ),
            ws_stall_timeout_s=_float(env, "COMMENTS_WS_STALL_TIMEOUT_S", d.ws_stall_timeout_s),
            ws_frames_per_s=_float(env, "COMMENTS_WS_FRAMES_PER_S", d.ws_frames_per_s),
            trusted_proxies=env.get("COMMENTS_TRUSTED_PROXIES", d.trusted_proxies),
            request_timeout_s=_float(env, "COMMENTS_REQUEST_TIMEOUT_S", d.request_timeout_s),
            gap_wait_s=_float(env, "COMMENTS_GAP_WAIT_S", d.gap_wait_s),
            resync_interval_s=_float(env, "COMMENTS_RESYNC_INTERVAL_S", d.resync_interval_s),
            site_cache_s=_float(env, "COMMENTS_SITE_CACHE_S", d.site_cache_s),
            read_cache_bytes=_int(env, "COMMENTS_READ_CACHE_BYTES", d.read_cache_bytes),
            read_cache_max_age_s=_int(env, "COMMENTS_READ_CACHE_MAX_AGE_S", d.read_cache_max_age_s),
            read_cache_swr_s=_int(env, "COMMENTS_READ_CACHE_SWR_S", d.read_cache_swr_s),
            read_cache_watch_max=_int(env, "COMMENTS_READ_CACHE_WATCH_MAX", d.read_cache_watch_max),
            classifier=env.get("COMMENTS_CLASSIFIER") or d.classifier,
            detoxify_checkpoint=env.get("COMMENTS_DETOXIFY_CHECKPOINT") or None,
            detoxify_config_dir=env.get("COMMENTS_DETOXIFY_CONFIG_DIR") or None,
            detoxify_backend=_choice(
                env, "COMMENTS_DETOXIFY_BACKEND", d.detoxify_backend, DETOXIFY_BACKENDS
            ),
            torch_threads=_int(env, "COMMENTS_TORCH_THREADS", d.torch_threads, minimum=1),
            classifier_timeout_s=_float(
                env, "COMMENTS_CLASSIFIER_TIMEOUT_S", d.classifier_timeout_s
            ),
            classifier_batch_size=_int(
                env, "COMMENTS_CLASSIFIER_BATCH_SIZE", d.classifier_batch_size, minimum=1
            ),
            classifier_batch_wait_ms=_float(
                env, "COMMENTS_CLASSIFIER_BATCH_WAIT_MS", d.classifier_batch_wait_ms
            ),
            recover_interval_s=_float(env, "COMMENTS_RECOVER_INTERVAL_S", d.recover_interval_s),
            scoring=_choice(env, "COMMENTS_SCORING", d.scoring, SCORING_MODES),
            worker_timeout_s=_float(env, "COMMENTS_WORKER_TIMEOUT_S", d.worker_timeout_s),
            worker_claim_idle_s=_float(env, "COMMENTS_WORKER_CLAIM_IDLE_S", d.worker_claim_idle_s),
            log_json=_bool(env, "COMMENTS_LOG_JSON", d.log_json),
            webhook_allow_private=_bool(
                env, "COMMENTS_WEBHOOK_ALLOW_PRIVATE", d.webhook_allow_private
            ),
            webhook_backoff_s=_float(env, "COMMENTS_WEBHOOK_BACKOFF_S", d.webhook_backoff_s),
            webhook_retry_s=_float(env, "COMMENTS_WEBHOOK_RETRY_S", d.webhook_retry_s),
            webhook_timeout_s=_float(env, "COMMENTS_WEBHOOK_TIMEOUT_S", d.webhook_timeout_s),
            webhook_log_retention_days=_int(
                env,
                "COMMENTS_WEBHOOK_LOG_RETENTION_DAYS",
                d.webhook_log_retention_days,
                minimum=1,
            ),
            mail_log_retention_days=_int(
                env, "COMMENTS_MAIL_LOG_RETENTION_DAYS", d.mail_log_retention_days, minimum=1
            ),
            metrics_allow=_networks(env, "COMMENTS_METRICS_ALLOW", d.metrics_allow),
            own_origins=_origin(env, "COMMENTS_PUBLIC_URL"),
            sso_max_ttl_s=_int(env, "COMMENTS_SSO_MAX_TTL_S", d.sso_max_ttl_s),
            personal_data_retention_days=_int(
                env,
                "COMMENTS_PERSONAL_DATA_RETENTION_DAYS",
                d.personal_data_retention_days,
                minimum=1,
            ),
            secret_key=_secret(env, "COMMENTS_SECRET_KEY"),
            smtp_url=env.get("COMMENTS_SMTP_URL") or None,
            mail_from=env.get("COMMENTS_MAIL_FROM", d.mail_from),
            mail_digest_s=_float(env, "COMMENTS_MAIL_DIGEST_S", d.mail_digest_s),
            mail_per_hour=_int(env, "COMMENTS_MAIL_PER_HOUR", d.mail_per_hour, minimum=1),
            mail_backoff_s=_float(env, "COMMENTS_MAIL_BACKOFF_S", d.mail_backoff_s),
        )
        if built.smtp_url is not None:
            from comments.integrations.mail import MailConfigError, SmtpConfig

            try:
                SmtpConfig.parse(built.smtp_url)
            except MailConfigError as exc:
                raise SettingsError(str(exc)) from None
            if "@" not in built.mail_from:
                raise SettingsError("COMMENTS_SMTP_URL needs COMMENTS_MAIL_FROM (an address)")
        if built.scoring == "workers" and not built.broker_url.startswith(WORKER_BROKERS):
            raise SettingsError(
                "COMMENTS_SCORING=workers hands posts to workers through Redis: set "
                "COMMENTS_REDIS_URL to a redis://, rediss://, redis-cluster:// or "
                "rediss-cluster:// URL"
            )
        return built

    def serving_at(self, host: str, port: int) -> Settings:
        """For ``comments serve`` and ``comments demo``: without COMMENTS_PUBLIC_URL, the
        server's own origin is the address it listens on, so that its console and demo
        page work out of the box on a laptop (http://127.0.0.1:8000/moderation). On a
        loopback or every-interface address that is this machine's three loopback names;
        other names (a LAN address, a public host) need COMMENTS_PUBLIC_URL."""
        if self.own_origins:
            return self
        hosts = LOOPBACK_HOSTS if host in LOOPBACK_HOSTS + ANY_HOST else (host,)
        origins = []
        for name in hosts:
            try:
                shown = f"[{name}]" if ":" in name and not name.startswith("[") else name
                origins.append(normalize_origin(f"http://{shown}:{port}"))
            except SiteSettingError:
                continue  # a host name no browser could send as an origin
        return replace(self, own_origins=tuple(dict.fromkeys(origins)))

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests and the CLI use it)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **changes)
