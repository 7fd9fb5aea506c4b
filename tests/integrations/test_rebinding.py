"""DNS rebinding: the address a webhook connects to is the one checked. A name that
answers a public address to the pre-check and a private one to the connection reaches
nothing; TLS still verifies the certificate for the URL's hostname, connected by IP."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from comments.integrations.delivery import Deliverer, webhook_client
from comments.integrations.webhooks import WebhookRefused, resolve_host
from comments.store import Store
from comments.store.webhooks import WebhookStore
from tests.integrations.receiver import Receiver
from tests.integrations.test_delivery import FAST, publish

GUARDED = replace(FAST, allow_private=False)
PUBLIC = "93.184.215.14"  # a global unicast address (is_public), never connected to here


class Rebinding:
    """A hostile DNS server with TTL 0: a public address to the first question, the
    truth (here loopback) to every later one."""

    def __init__(self) -> None:
        self.asked = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked += 1
        if self.asked == 1:
            return [PUBLIC]
        return await resolve_host(host, port)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def test_a_rebinding_name_is_refused_when_connecting(
    store: Store, receiver: Receiver
) -> None:
    await store.create_site("news", {})
    author, _ = await store.create_guest("news", "Ana")
    url = f"http://localhost:{receiver.port}/hook"
    hook = await WebhookStore(store).add("news", url, ["comment.published"])
    await publish(store, author, "a", "to loopback, by a name that lied to the check")
    dns = Rebinding()
    deliverer = Deliverer(WebhookStore(store), GUARDED, resolve=dns)
    try:
        assert await deliverer.run_once() == 1
    finally:
        await deliverer.close()
    assert receiver.seen == []
    assert dns.asked == 2  # the pre-check (passed: a public answer), then the connection
    (entry,) = await WebhookStore(store).log(hook.id)
    assert entry["status"] == "pending"
    assert "refused when connecting" in entry["last_error"]
    assert "non-public" in entry["last_error"]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_the_webhook_client_refuses_a_private_address_without_the_pre_check(
    receiver: Receiver, host: str
) -> None:
    async with webhook_client(GUARDED) as client:
        with pytest.raises(WebhookRefused, match=r"refused when connecting.*non-public"):
            await client.post(f"http://{host}:{receiver.port}/hook", content=b"{}")
    assert receiver.seen == []


async def test_with_private_addresses_allowed_the_webhook_client_delivers(
    receiver: Receiver,
) -> None:
    # "localhost" may answer ::1 first, where the receiver is not: the next address is tried.
    async with webhook_client(FAST) as client:
        r = await client.post(f"http://localhost:{receiver.port}/hook", content=b"{}")
    assert r.status_code == 200
    assert len(receiver.seen) == 1


@contextlib.asynccontextmanager
async def tls_server(
    cert: Path, key: Path, seen: list[tuple[str | None, str]]
) -> AsyncIterator[int]:
    """An HTTPS server on 127.0.0.1 that records (SNI name, Host header) and answers 204."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sni: list[str | None] = []

    def record_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        sni.append(name)

    context.sni_callback = record_sni  # type: ignore[assignment]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        fields = {k.lower(): v for k, v in fields.items()}
        await reader.readexactly(int(fields.get("content-length", "0")))
        seen.append((sni[-1] if sni else None, fields["host"]))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate (and its key) for hooks.example only, trusted by itself."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    names = ["-subj", "/CN=hooks.example", "-addext", "subjectAltName=DNS:hooks.example"]
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert), *names],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_is_verified_for_the_hostname_while_connected_by_ip(
    self_signed: tuple[Path, Path],
) -> None:
    cert, key = self_signed
    trusted = ssl.create_default_context(cafile=str(cert))
    asked: list[str] = []

    async def to_loopback(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    seen: list[tuple[str | None, str]] = []
    async with tls_server(cert, key, seen) as port:
        policy = FAST  # loopback allowed; the connection is still made by IP, resolved here
        async with webhook_client(policy, to_loopback, verify=trusted) as client:
            r = await client.post(f"https://hooks.example:{port}/hook", content=b"{}")
            assert r.status_code == 204
            # The same server under another name: its certificate does not match.
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.post(f"https://other.example:{port}/hook", content=b"{}")
    assert asked == ["hooks.example", "other.example"]
    assert seen == [("hooks.example", f"hooks.example:{port}")]
