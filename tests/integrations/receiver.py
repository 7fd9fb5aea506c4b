"""A webhook receiver for the tests: a real uvicorn server on 127.0.0.1 that records what
it is sent and answers 503 while ``down`` is set (a receiver outage)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook as Verifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from comments.server.config import build_config
from comments.settings import Settings
from tests.conftest import free_port, wait_until


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    status: int

    @property
    def message(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found

    def verifies(self, secret: str) -> bool:
        try:
            Verifier(secret).verify(self.body, self.headers)
        except Exception:
            return False
        return True


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    down: bool = False
    seen: list[Received] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.seen if r.status == 200]

    async def _hook(self, request: Request) -> Response:
        status = 503 if self.down else 200
        body = (await request.body()).decode()
        self.seen.append(Received(dict(request.headers), body, status))
        return Response(status_code=status)

    async def start(self) -> Receiver:
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        # The project's one config builder (tests/architecture), for a plain ASGI app.
        config = build_config(
            app, Settings(), port=self.port, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        server = self._server
        await wait_until(lambda: server.started, timeout=20)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, 10)
