"""Reply e-mails through a real server and a real SMTP server (aiosmtpd), on SQLite and
PostgreSQL: a guest opts in and confirms by the mailed link, a reply reaches them with
its text, a permalink and a one-click unsubscribe that works; after it, no more mails.
SSO readers with an ``email`` claim are in at once; without SMTP the feature is off."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from comments.settings import Settings
from comments.store.mail_tables import mail_queue, mail_subscriptions
from tests.api import sso_token
from tests.conftest import OPEN_SITE, add_site, api_client, wait_until
from tests.integrations.test_mail import Inbox, serve

SSO_SECRET = "x" * 32


def local(url: str) -> str:
    """A mailed link's path and query (its host is the configured public URL)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def body(message: Any) -> str:
    return str(message.get_payload(decode=True).decode().replace("\r\n", "\n"))


async def comment(http: httpx.AsyncClient, text: str, **kw: Any) -> dict[str, Any]:
    headers = kw.pop("headers", {})
    r = await http.post(
        "/api/v1/sites/news/articles/a/comments", json={"body": text, **kw}, headers=headers
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_opt_in_confirm_reply_unsubscribe(
    database_url: str, start_server: Any, channel_prefix: str
) -> None:
    await add_site(database_url, "news", **OPEN_SITE)
    inbox = Inbox()
    for port in serve(inbox):
        settings = Settings(
            database_url=database_url,
            broker_url="memory://",
            channel_prefix=channel_prefix,
            smtp_url=f"smtp://127.0.0.1:{port}",
            mail_from="comments@news.example",
            mail_digest_s=0.1,
        )
        server = await start_server(settings)
        async with api_client(server.url) as http:
            config = (await http.get("/api/v1/sites/news/config")).json()
            assert config["mail"] is True
            ana = await comment(http, "Ana's point", author_name="Ana")
            guest = {"X-Comments-Guest": ana["guest_token"]}
            bad = await http.post(
                "/api/v1/sites/news/mail/subscribe", json={"email": "no"}, headers=guest
            )
            assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_email"
            r = await http.post(
                "/api/v1/sites/news/mail/subscribe",
                json={"email": "ana@example.org"},
                headers=guest,
            )
            assert r.status_code == 202 and r.json() == {
                "subscribed": False,
                "confirmation_sent": True,
            }
            assert "ana@example.org" not in r.text
            (confirmation,) = inbox.messages
            assert confirmation["To"] == "ana@example.org"
            link = re.search(r"http\S+/api/v1/mail/confirm\?token=\S+", body(confirmation))
            assert link is not None
            # Not yet confirmed: a reply now sends nothing.
            bo = await comment(http, "early", author_name="Bo", parent=ana["comment"]["id"])
            assert await server.node.mail.run_once() == 0
            confirmed = await http.get(local(link.group(0)))
            assert confirmed.status_code == 200 and "Subscribed" in confirmed.text
            bad_token = await http.get("/api/v1/mail/confirm?token=forged.x")
            assert bad_token.status_code == 400

            reply = await comment(
                http,
                "Bo answers\non two lines",
                author_name="Bo",
                parent=ana["comment"]["id"],
                headers={"X-Comments-Guest": bo["guest_token"]},
            )
            await wait_until(lambda: len(inbox.messages) == 2, timeout=20)
            mail = inbox.messages[1]
            assert mail["Subject"] == "Bo replied to you on a"
            text = body(mail)
            assert "Bo answers\non two lines" in text and "early" not in text
            permalink = re.search(r"http\S+/comments/" + reply["comment"]["id"] + r"/context", text)
            assert permalink is not None
            shown = await http.get(local(permalink.group(0)))
            assert shown.status_code == 200 and reply["comment"]["id"] in shown.text
            assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            unsubscribe = local(mail["List-Unsubscribe"].strip("<>"))
            page = await http.get(unsubscribe)
            assert page.status_code == 200 and "<form method=post" in page.text
            # What a mail client sends (RFC 8058): a form, no JSON, no Origin.
            async with httpx.AsyncClient(base_url=server.url) as client:
                done = await client.post(
                    unsubscribe,
                    content=b"List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
            assert done.status_code == 200 and done.json() == {"unsubscribed": True}

            await comment(http, "after", author_name="Cy", parent=ana["comment"]["id"])
            assert await server.node.mail.run_once() == 0
            async with server.node.store.engine.connect() as conn:
                queued = (
                    await conn.execute(sa.select(sa.func.count()).select_from(mail_queue))
                ).scalar()
            assert queued == 1  # only Bo's reply was ever queued
            assert len(inbox.messages) == 2


async def test_sso_email_claim_subscribes_at_once_and_mail_off_answers_404(
    database_url: str, start_server: Any, channel_prefix: str
) -> None:
    await add_site(database_url, "news", **{**OPEN_SITE, "sso_secrets": [SSO_SECRET]})
    base = Settings(
        database_url=database_url, broker_url="memory://", channel_prefix=channel_prefix
    )
    off = await start_server(base)
    token = sso_token("u1", "Ugo", secret=SSO_SECRET, email="ugo@example.org")
    auth = {"Authorization": f"Bearer {token}"}
    async with api_client(off.url) as http:
        assert (await http.get("/api/v1/sites/news/config")).json()["mail"] is False
        r = await http.post("/api/v1/sites/news/mail/subscribe", json={}, headers=auth)
        assert r.status_code == 404 and r.json()["error"]["code"] == "mail_off"
    await off.stop()
    inbox = Inbox()
    for port in serve(inbox):
        on = await start_server(
            base.with_(smtp_url=f"smtp://127.0.0.1:{port}", mail_from="c@news.example")
        )
        async with api_client(on.url) as http:
            anonymous = await http.post("/api/v1/sites/news/mail/subscribe", json={})
            assert anonymous.status_code == 401
            r = await http.post("/api/v1/sites/news/mail/subscribe", json={}, headers=auth)
            assert r.status_code == 200 and r.json()["subscribed"] is True
        async with on.node.store.engine.connect() as conn:
            rows = list(await conn.execute(sa.select(mail_subscriptions)))
        assert [(r.author_id, r.email) for r in rows] == [("news:u1", "ugo@example.org")]
        assert inbox.messages == []  # no confirmation needed
