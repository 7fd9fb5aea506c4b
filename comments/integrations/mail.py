"""Reply e-mails' building blocks: the SMTP setting, the message (one reply or a digest,
with a signed one-click unsubscribe) and sending it with aiosmtplib.

``COMMENTS_SMTP_URL``: ``smtp://[user:pass@]host[:port]`` (plain, port 25),
``smtp://…?starttls=1`` (upgraded with STARTTLS, port 587 by default) or
``smtps://…`` (TLS from the first byte, port 465). Not yet wired to an opt-in and the
outbox (docs/api.md, "Contract v1.1: not yet served").
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import hmac
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import parse_qs, quote, unquote, urlsplit

import aiosmtplib


class MailConfigError(ValueError):
    """COMMENTS_SMTP_URL cannot be used."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    use_tls: bool = False
    start_tls: bool = False
    timeout_s: float = 10.0

    @classmethod
    def parse(cls, url: str) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise MailConfigError("COMMENTS_SMTP_URL must be smtp://host[:port] or smtps://…")
        query = parse_qs(parts.query)
        start_tls = query.get("starttls", ["0"])[-1].lower() in ("1", "true", "yes")
        use_tls = parts.scheme == "smtps"
        if use_tls and start_tls:
            raise MailConfigError("smtps:// is TLS already: drop starttls")
        default_port = 465 if use_tls else (587 if start_tls else 25)
        try:
            port = parts.port or default_port
        except ValueError:
            raise MailConfigError("COMMENTS_SMTP_URL has an invalid port") from None
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
            start_tls=start_tls,
        )


def _sign(secret: bytes, text: str) -> str:
    digest = hmac.new(secret, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def unsubscribe_token(secret: bytes, site: str, author_id: str) -> str:
    """``site.author.signature``: whoever holds it may stop that author's reply mails
    (the link in every mail), and nothing else."""
    text = f"{quote(site, safe='')}.{quote(author_id, safe='')}"
    return f"{text}.{_sign(secret, 'unsubscribe:' + text)}"


def read_unsubscribe_token(secret: bytes, token: str) -> tuple[str, str] | None:
    """The (site, author) a genuine token names; None for anything else."""
    text, _, signature = token.rpartition(".")
    if not text or not hmac.compare_digest(signature, _sign(secret, "unsubscribe:" + text)):
        return None
    site, _, author = text.partition(".")
    return unquote(site), unquote(author)


@dataclass(frozen=True)
class Reply:
    author_name: str
    body: str
    permalink: str


def reply_message(
    *, sender: str, to: str, article_title: str, replies: Sequence[Reply], unsubscribe_url: str
) -> EmailMessage:
    """One reply, or several as one digest; RFC 8058 one-click unsubscribe headers."""
    # Long lines allowed (RFC 5322's 998): folding would encode the unsubscribe URL,
    # which mail clients then fail to read.
    message = EmailMessage(policy=email.policy.SMTP.clone(max_line_length=998))
    message["From"] = sender
    message["To"] = to
    if len(replies) == 1:
        message["Subject"] = f"{replies[0].author_name} replied to you on {article_title}"
    else:
        message["Subject"] = f"{len(replies)} new replies to you on {article_title}"
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    parts = [f"{r.author_name} wrote:\n\n{r.body}\n\n{r.permalink}" for r in replies]
    text = "\n\n---\n\n".join(parts)
    message.set_content(f"{text}\n\nStop these e-mails: {unsubscribe_url}\n")
    return message


async def send(
    config: SmtpConfig, message: EmailMessage, *, tls_context: ssl.SSLContext | None = None
) -> None:
    """Send one message. Raises aiosmtplib.SMTPException or OSError when the server
    refuses or cannot be reached: the caller keeps the message and tries again later."""
    # As bytes, in the message's own policy: aiosmtplib's would fold the long headers.
    await aiosmtplib.send(
        message.as_bytes(),
        sender=str(message["From"]),
        recipients=[str(message["To"])],
        hostname=config.host,
        port=config.port,
        username=config.username,
        password=config.password,
        use_tls=config.use_tls,
        start_tls=config.start_tls,
        timeout=config.timeout_s,
        tls_context=tls_context,
    )
