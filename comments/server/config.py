"""The one place a uvicorn server is configured: ``comments serve``, ``comments demo`` and
every test server run what :func:`build_config` returns.

Our protocol subclasses (``http_protocol``, ``ws_protocol``) lean on attributes uvicorn
does not promise to keep; :func:`check_uvicorn` looks for each of them once, at start,
so an upgrade that moved one fails with a message instead of misbehaving under load.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from comments.errors import ConfigurationError
from comments.server.http_protocol import bounded_httptools
from comments.server.ws_protocol import websocket_protocol
from comments.settings import Settings

#: The uvicorn releases whose internals the protocol subclasses were written against.
SUPPORTED_UVICORN = "0.54.x"
# Readers have nothing to send on a socket but control frames.
WS_MAX_SIZE = 64 * 1024

# What each subclass uses of its uvicorn base, by the object that must have it.
_NEEDED: dict[str, tuple[str, ...]] = {
    "websockets_sansio_impl.WebSocketsSansIOProtocol": (
        "conn",
        "queue",
        "writable",
        "close_sent",
        "handshake_complete",
        "initial_response",
        "disconnected",
        "transport",
        "loop",
        "client",
        "read_paused",
        "frames",
        "curr_msg_data_type",
        "handle_connect",
        "handle_events",
        "handle_ping",
        "handle_pong",
        "handle_text",
        "handle_bytes",
        "handle_cont",
        "handle_close",
        "handle_parser_exception",
        "send_receive_event_to_app",
        "pause_writing",
        "resume_writing",
        "connection_lost",
        "receive",
        "send",
    ),
    # The websockets connection (``conn``) the WebSocket protocol drives.
    "websockets.server.ServerProtocol": (
        "state",
        "close_sent",
        "parser_exc",
        "events_received",
        "data_to_send",
        "fail",
    ),
    "httptools_impl.HttpToolsProtocol": (
        "transport",
        "cycle",
        "loop",
        "client",
        "server_state",
        "parser",
        "logger",
        "_unset_keepalive_if_required",
        "_should_upgrade",
        "_unsupported_upgrade_warning",
        "send_400_response",
        "on_url",
        "on_header",
        "on_response_complete",
        "pipeline",
        "connection_made",
        "connection_lost",
        "data_received",
        "on_message_begin",
        "on_headers_complete",
        "on_message_complete",
        "handle_websocket_upgrade",
    ),
    "httptools_impl.RequestResponseCycle": (
        "response_complete",
        "response_started",
        "disconnected",
        "message_event",
    ),
}


class UnsupportedUvicorn(ConfigurationError):
    pass


def check_uvicorn() -> None:
    """Fail clearly when the installed uvicorn lacks what our protocols use.

    Raises:
        UnsupportedUvicorn: naming what is missing and the supported releases.
    """

    async def app(scope: Any, receive: Any, send: Any) -> None:  # never called
        pass

    config = Config(app, log_config=None)
    config.load()
    loop = asyncio.new_event_loop()
    try:
        state = ServerState()
        ws = WebSocketsSansIOProtocol(config, state, {}, loop)
        http = HttpToolsProtocol(config, state, {}, loop)
        cycle = RequestResponseCycle(
            scope={"type": "http"},  # type: ignore[typeddict-item]
            transport=None,  # type: ignore[arg-type]
            flow=FlowControl(None),  # type: ignore[arg-type]
            logger=None,  # type: ignore[arg-type]
            access_logger=None,  # type: ignore[arg-type]
            access_log=False,
            default_headers=[],
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=True,
            on_response=lambda: None,
        )
    except Exception as exc:  # a changed constructor is as fatal as a missing attribute
        raise UnsupportedUvicorn(_message(f"its protocols cannot be built ({exc!r})")) from exc
    finally:
        loop.close()
    found = {
        "websockets_sansio_impl.WebSocketsSansIOProtocol": ws,
        "httptools_impl.HttpToolsProtocol": http,
        "httptools_impl.RequestResponseCycle": cycle,
        "websockets.server.ServerProtocol": ws.conn,
    }
    missing = [
        f"{owner}.{name}"
        for owner, names in _NEEDED.items()
        for name in names
        if not hasattr(found[owner], name)
    ]
    if missing:
        raise UnsupportedUvicorn(_message("it lacks " + ", ".join(missing)))


def _message(problem: str) -> str:
    return (
        f"uvicorn {uvicorn.__version__} is not supported: {problem}. comments runs on "
        f"uvicorn {SUPPORTED_UVICORN} (pip install 'uvicorn[standard]>=0.54,<0.55')"
    )


def build_config(
    app: Any,
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    ws_deflate: bool = False,
    access_log: bool = True,
    log_level: str | None = None,
    graceful_shutdown_s: float | None = None,
    **overrides: Any,
) -> uvicorn.Config:
    """The server's configuration: httptools with a read deadline and a head cap per
    request, uvicorn's sans-I/O WebSocket protocol writing shared frames straight out
    with bounds on what a peer can make it hold, pings, proxies and limits from
    ``settings``. ``overrides`` go to uvicorn as they are
    (tests: ``lifespan``, ``ws_ping_interval``…)."""
    proxies = settings.trusted_proxies.strip()
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": bounded_httptools(settings.request_timeout_s),
        "ws": websocket_protocol(settings.ws_stall_timeout_s, settings.ws_frames_per_s),
        "ws_per_message_deflate": settings.ws_per_message_deflate or ws_deflate,
        "ws_ping_interval": settings.ws_ping_interval or None,
        "ws_ping_timeout": settings.ws_ping_timeout or None,
        "ws_max_size": WS_MAX_SIZE,
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
        "server_header": False,
        "access_log": access_log,
        # Logging is set up by the caller (comments.observability.logs), not by uvicorn.
        "log_config": None,
        "log_level": log_level,
        "timeout_graceful_shutdown": graceful_shutdown_s,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve_forever(config: uvicorn.Config) -> None:
    """Serve until SIGTERM or SIGINT (``comments serve``, ``comments demo``)."""
    uvicorn.Server(config).run()
