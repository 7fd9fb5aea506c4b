"""The OpenAPI document describes exactly the HTTP routes the app serves; every refusal
has its status."""

from __future__ import annotations

import re

from starlette.routing import Route, WebSocketRoute

from comments.errors import Code
from comments.settings import Settings
from comments.web import openapi
from comments.web.app import create_app
from comments.web.errors import REFUSAL_STATUS

DOCUMENTED_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _path(template: str) -> str:
    # Starlette's `{article:path}` is OpenAPI's `{article}`.
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", template)


def served() -> tuple[set[tuple[str, str]], set[str]]:
    app = create_app(Settings())
    http: set[tuple[str, str]] = set()
    sockets: set[str] = set()
    for route in app.routes:
        if isinstance(route, WebSocketRoute):
            sockets.add(_path(route.path))
        else:
            assert isinstance(route, Route)
            # Starlette answers HEAD for every GET by itself.
            for method in (route.methods or set()) & DOCUMENTED_METHODS:
                http.add((method, _path(route.path)))
    return http, sockets


def documented() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in openapi.document()["paths"].items()
        for method in item
        if method.upper() in DOCUMENTED_METHODS
    }


def test_every_route_is_documented_and_every_documented_path_served() -> None:
    http, _ = served()
    assert documented() == http


def test_websocket_streams_are_named_in_the_document() -> None:
    """OpenAPI has no WebSocket operations: the description points to their reference."""
    _, sockets = served()
    assert sockets == {
        "/ws/v1/sites/{site}/articles/{article}",
        "/ws/v1/sites/{site}/counts",
        "/ws/v1/moderation/sites/{site}",
    }
    assert "docs/api.md" in openapi.document()["info"]["description"]


def test_every_refusal_code_has_its_http_status() -> None:
    """A use case's new code without a status would leave as a wrong one: none may."""
    assert set(REFUSAL_STATUS) == set(Code)
    assert all(400 <= status < 500 for status in REFUSAL_STATUS.values())
