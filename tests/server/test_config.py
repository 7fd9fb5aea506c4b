"""The one uvicorn configuration, and the start-up check of the internals it relies on."""

from __future__ import annotations

import pytest

from comments.server import config
from comments.server.config import UnsupportedUvicorn, build_config, check_uvicorn
from comments.server.http_protocol import BoundedHttpToolsProtocol
from comments.server.ws_protocol import CommentsWebSocketProtocol
from comments.settings import Settings


def test_the_installed_uvicorn_has_what_our_protocols_use() -> None:
    check_uvicorn()


def test_a_uvicorn_without_an_attribute_we_use_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    needed = dict(config._NEEDED)
    owner = "websockets_sansio_impl.WebSocketsSansIOProtocol"
    needed[owner] = (*needed[owner], "renamed_in_a_later_release")
    monkeypatch.setattr(config, "_NEEDED", needed)
    with pytest.raises(UnsupportedUvicorn) as refused:
        check_uvicorn()
    message = str(refused.value)
    assert f"{owner}.renamed_in_a_later_release" in message
    assert config.SUPPORTED_UVICORN in message


def test_serve_demo_and_tests_run_our_protocols_with_the_settings_limits() -> None:
    settings = Settings().with_(
        request_timeout_s=7.0, ws_ping_interval=3.0, trusted_proxies="10.0.0.1"
    )
    built = build_config(object(), settings, port=8123)
    assert isinstance(built.ws, type) and issubclass(built.ws, CommentsWebSocketProtocol)
    assert isinstance(built.http, type) and issubclass(built.http, BoundedHttpToolsProtocol)
    assert built.http.timeout_s == 7.0
    assert built.ws_ping_interval == 3.0
    assert built.ws_max_size == 64 * 1024
    assert built.proxy_headers and built.forwarded_allow_ips == "10.0.0.1"
    assert built.server_header is False


def test_proxy_headers_are_believed_only_from_configured_proxies() -> None:
    built = build_config(object(), Settings(), port=8123)
    assert built.proxy_headers is False
