"""A write is answered only after the broker messages it caused have been published.

A reader who saw the answer and then reads on another node must find the change there:
that node trusts its cached marks (comments.live.read_marks) only behind a broker
barrier, which covers every message published before the read arrived. Hence the
writer's messages must be out before its answer is.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

READS = frozenset({"GET", "HEAD", "OPTIONS"})


class AnswerAfterPublish:
    """ASGI middleware: holds a write's response head until the hub's publishes begun so
    far are done (or failed: then the peers' periodic sweep finds the change)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READS:
            await self.app(scope, receive, send)
            return

        async def send_after_publish(message: Message) -> None:
            if message["type"] == "http.response.start":
                node = (scope.get("state") or {}).get("node")
                if node is not None:
                    await node.hub.sent()
            await send(message)

        await self.app(scope, receive, send_after_publish)
