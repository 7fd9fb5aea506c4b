"""Reply e-mails over HTTP (docs/api.md, "Reply e-mails"): a reader opts in, a guest
confirms their address by a signed link, anyone holding a mail's link opts out.

Everything answers 404 ``mail_off`` when the server has no COMMENTS_SMTP_URL.
"""

from __future__ import annotations

import html
import re
import time
from urllib.parse import quote

import aiosmtplib
import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from comments.infra.ratelimit import retry_after
from comments.integrations.mail import (
    confirm_message,
    confirm_token,
    read_confirm_token,
    read_unsubscribe_token,
    send,
)
from comments.integrations.mail_sender import MailSender
from comments.store.mail import MailStore
from comments.web.assets import page_headers
from comments.web.auth import bearer
from comments.web.common import (
    known_author,
    node_of,
    parse_json_object,
    read_body,
    site_of,
    storable,
)
from comments.web.errors import ApiError
from comments.web.writes import check_write

EMAIL_MAX = 254
# Deliberately plain: one @, a dot in the domain, no spaces, quotes or separators (an
# address goes into a To: header, so no CR/LF can pass).
EMAIL = re.compile(r"[^@\s<>,;:\"()\[\]\\]+@[^@\s<>,;:\"()\[\]\\]+\.[^@\s<>,;:\"()\[\]\\]+")
CONFIRM_TTL_S = 2 * 24 * 3600
# Confirmation mails a reader may have sent an hour: nobody is mailed over and over.
CONFIRMS_PER_HOUR = 3
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"


def mail_of(request: Request) -> MailSender:
    sender = node_of(request).mail
    if sender is None:
        raise ApiError(404, "mail_off", "this server sends no e-mails (no COMMENTS_SMTP_URL)")
    return sender


def valid_email(value: object) -> str:
    if (
        not isinstance(value, str)
        or len(value) > EMAIL_MAX
        or not storable(value)
        or not EMAIL.fullmatch(value)
    ):
        raise ApiError(422, "invalid_email", "email must be an e-mail address (name@domain)")
    return value


def _sso_email(request: Request) -> str | None:
    """The ``email`` claim of the request's SSO token (already verified by
    ``known_author``): the partner site vouches for it, no confirmation needed."""
    token = bearer(request.headers.get("authorization"))
    if token is None:
        return None
    claims = jwt.decode(token, options={"verify_signature": False})
    claim = claims.get("email")
    try:
        return valid_email(claim) if claim is not None else None
    except ApiError:
        return None


async def subscribe(request: Request) -> JSONResponse:
    raw = await read_body(request)
    site = await site_of(request)
    check_write(request, site)
    sender = mail_of(request)
    data = parse_json_object(raw) if raw.strip() else {}
    author = await known_author(request, site)
    if author is None:
        raise ApiError(
            401, "identity_required", "send your guest token or sign-in token to subscribe"
        )
    store = MailStore(node_of(request).store)
    claimed = _sso_email(request)
    if claimed is not None:
        await store.subscribe(site.slug, author.id, claimed)
        return JSONResponse({"subscribed": True, "confirmation_sent": False})
    email = valid_email(data.get("email"))
    wait = await node_of(request).limiter.hit(
        f"mailconfirm:{site.slug}:{author.id}", CONFIRMS_PER_HOUR, 3600.0
    )
    if wait is not None:
        raise ApiError(
            429,
            "rate_limited",
            "too many confirmation mails; try again later",
            headers={"Retry-After": retry_after(wait)},
        )
    policy = sender.policy
    token = confirm_token(
        sender.secret, site.slug, author.id, email, int(time.time()) + CONFIRM_TTL_S
    )
    url = f"{policy.base_url}/api/v1/mail/confirm?token={quote(token, safe='')}"
    message = confirm_message(sender=policy.sender, to=email, site=site.slug, confirm_url=url)
    try:
        await send(policy.smtp, message, tls_context=sender.tls_context)
    except (aiosmtplib.SMTPException, OSError):
        raise ApiError(
            503,
            "mail_unavailable",
            "the confirmation mail could not be sent now; try again later",
            headers={"Retry-After": "60"},
        ) from None
    return JSONResponse({"subscribed": False, "confirmation_sent": True}, status_code=202)


def _token(request: Request) -> str:
    token = request.query_params.get("token", "")
    if not token or len(token) > 2000 or not token.isascii():
        raise ApiError(400, "invalid_link", "this link is not valid (token missing)")
    return token


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text = (
        "<!doctype html><meta charset=utf-8><meta name=viewport "
        f"content='width=device-width'><title>{html.escape(title)}</title>"
        "<body style='font:16px system-ui;max-width:34em;margin:3em auto'>"
        f"<h1>{html.escape(title)}</h1>{body}</body>"
    )
    return HTMLResponse(text, status, headers=page_headers(PAGE_CSP, framable=False))


async def confirm(request: Request) -> Response:
    sender = mail_of(request)
    found = read_confirm_token(sender.secret, _token(request), time.time())
    if found is None:
        raise ApiError(400, "invalid_link", "this confirmation link is not valid or expired")
    site, author_id, email = found
    await MailStore(node_of(request).store).subscribe(site, author_id, email)
    return page("Subscribed", "<p>You will get an e-mail when someone replies to you.</p>")


async def unsubscribe(request: Request) -> Response:
    """``GET``: a page with one button (a link scanner's GET must not unsubscribe);
    ``POST``: done (RFC 8058 one-click: the mail client POSTs
    ``List-Unsubscribe=One-Click`` as a form, so no JSON content type is asked here; the
    signed token is the authority, so no origin check either)."""
    sender = mail_of(request)
    token = _token(request)
    found = read_unsubscribe_token(sender.secret, token)
    if found is None:
        raise ApiError(400, "invalid_link", "this unsubscribe link is not valid")
    if request.method == "GET":
        action = html.escape(f"?token={quote(token, safe='')}")
        return page(
            "Stop reply e-mails?",
            f"<form method=post action='{action}'><input type=hidden name=List-Unsubscribe "
            "value=One-Click><button>Stop e-mails</button></form>",
        )
    await read_body(request)  # bounded; its content does not matter
    site, author_id = found
    await MailStore(node_of(request).store).unsubscribe(site, author_id)
    if "text/html" in request.headers.get("accept", ""):
        return page("Unsubscribed", "<p>You will get no more reply e-mails.</p>")
    return JSONResponse({"unsubscribed": True})


routes = [
    Route("/api/v1/sites/{site}/mail/subscribe", subscribe, methods=["POST"]),
    Route("/api/v1/mail/confirm", confirm, methods=["GET"]),
    Route("/api/v1/mail/unsubscribe", unsubscribe, methods=["GET", "POST"]),
]
