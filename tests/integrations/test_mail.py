"""Reply e-mails' building blocks against a real SMTP server (aiosmtpd) started here:
plain, STARTTLS (a self-signed certificate made with openssl), and a server that refuses
(the sender gets an error to retry on; nothing is taken as sent)."""

from __future__ import annotations

import email
import ssl
import subprocess
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller

from comments.integrations.mail import (
    MailConfigError,
    Reply,
    SmtpConfig,
    read_unsubscribe_token,
    reply_message,
    send,
    unsubscribe_token,
)
from tests.conftest import free_port

SECRET = b"k" * 32


class Inbox:
    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return self.refuse
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def serve(inbox: Inbox, **options: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def message(to: str = "ana@example.org", n: int = 1) -> Any:
    replies = [
        Reply(f"Bo{i}", f"reply {i}\nsecond line", f"https://n.example/a#comment-c{i}")
        for i in range(n)
    ]
    token = unsubscribe_token(SECRET, "news", "g_ana")
    return reply_message(
        sender="comments@n.example",
        to=to,
        article_title="Lavrov meets Kim",
        replies=replies,
        unsubscribe_url=f"https://c.example/api/v1/mail/unsubscribe?token={token}",
    )


def test_smtp_urls() -> None:
    assert SmtpConfig.parse("smtp://mail.example") == SmtpConfig("mail.example", 25)
    starttls = SmtpConfig.parse("smtp://u%40x:p%3Aw@mail.example?starttls=1")
    assert (starttls.port, starttls.start_tls, starttls.username, starttls.password) == (
        587,
        True,
        "u@x",
        "p:w",
    )
    tls = SmtpConfig.parse("smtps://mail.example:2465")
    assert (tls.port, tls.use_tls) == (2465, True)
    for bad in ("http://x", "smtp://", "smtps://x?starttls=1", "smtp://x:99999"):
        with pytest.raises(MailConfigError):
            SmtpConfig.parse(bad)


def test_unsubscribe_tokens_are_signed() -> None:
    token = unsubscribe_token(SECRET, "news", "news:sub.with.dots")
    assert read_unsubscribe_token(SECRET, token) == ("news", "news:sub.with.dots")
    assert read_unsubscribe_token(b"x" * 32, token) is None
    assert read_unsubscribe_token(SECRET, token[:-2] + "AA") is None
    assert read_unsubscribe_token(SECRET, "garbage") is None


async def test_a_reply_mail_arrives_with_its_permalink_and_unsubscribe_headers() -> None:
    inbox = Inbox()
    for port in serve(inbox):
        await send(SmtpConfig("127.0.0.1", port), message())
    (got,) = inbox.messages
    assert got["Subject"] == "Bo0 replied to you on Lavrov meets Kim"
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert got["List-Unsubscribe"].startswith("<https://c.example/api/v1/mail/unsubscribe?token=")
    body = got.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert "reply 0\nsecond line" in body and "https://n.example/a#comment-c0" in body


async def test_several_replies_make_one_digest() -> None:
    inbox = Inbox()
    for port in serve(inbox):
        await send(SmtpConfig("127.0.0.1", port), message(n=3))
    (got,) = inbox.messages
    assert got["Subject"] == "3 new replies to you on Lavrov meets Kim"
    body = got.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert all(f"#comment-c{i}" in body for i in range(3))


async def test_starttls(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    inbox = Inbox()
    for port in serve(inbox, tls_context=server_tls, require_starttls=True):
        config = SmtpConfig.parse(f"smtp://127.0.0.1:{port}?starttls=1")
        await send(config, message(), tls_context=client_tls)
        # Without STARTTLS the server refuses: nothing goes in clear.
        with pytest.raises(aiosmtplib.SMTPException):
            await send(SmtpConfig("127.0.0.1", port), message())
    assert len(inbox.messages) == 1


async def test_a_refusing_server_raises_so_the_mail_is_kept_for_later() -> None:
    inbox = Inbox(refuse="451 try again later")
    for port in serve(inbox):
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await send(SmtpConfig("127.0.0.1", port), message())
        assert refused.value.code == 451
        inbox.refuse = None  # back: the retry goes through
        await send(SmtpConfig("127.0.0.1", port), message())
    assert len(inbox.messages) == 1
    with pytest.raises(OSError):
        await send(SmtpConfig("127.0.0.1", free_port(), timeout_s=2), message())
