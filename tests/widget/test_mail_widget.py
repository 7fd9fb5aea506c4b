"""The widget's "E-mail me replies" in real Chromium, against a server with mail on and a
real SMTP server (aiosmtpd): a guest ticks it, posts, gets the confirmation mail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from playwright.async_api import expect

from comments.web.app import create_app
from tests.conftest import free_port, wait_until
from tests.integrations.test_mail import Inbox
from tests.widget.conftest import (
    OpenPage,
    PartnerSite,
    Stack,
    form_message,
    screenshot,
    serve,
    widget_settings,
    write,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def mail_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Stack, Inbox]]:
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    db: Path = tmp_path_factory.mktemp("mailwidget") / "comments.db"
    port = free_port()
    settings = widget_settings(
        f"sqlite+aiosqlite:///{db}",
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        mail_from="comments@news.example",
    ).serving_at("127.0.0.1", port)
    server = await serve(create_app(settings), port)
    partner, stranger = PartnerSite(), PartnerSite()
    await partner.start()
    await stranger.start()
    try:
        yield Stack(server, partner, stranger), inbox
    finally:
        for running in (server, partner.running, stranger.running):
            if running is not None and not running.task.done():
                await running.stop()
        controller.stop()


async def test_a_guest_opts_in_from_the_widget_and_gets_the_confirmation_mail(
    mail_stack: tuple[Stack, Inbox], open_page: OpenPage
) -> None:
    stack, inbox = mail_stack
    await stack.add_site("mailed")
    page = await open_page(stack.page("mail.html", site="mailed", article="a1"))
    form = page.locator("#comments .c-compose form")
    box = form.locator("input[name=mail_replies]")
    await expect(box).to_be_visible()
    address = form.locator("input[name=email]")
    await expect(address).to_be_hidden()
    await box.check()
    await address.fill("ana@example.org")
    await write(page, "Tell me when someone answers.", name="Ana")
    await expect(form_message(page)).to_contain_text("Check your inbox")
    await screenshot(page, "mail-opt-in")
    await wait_until(lambda: len(inbox.messages) == 1, timeout=15)
    (mail,) = inbox.messages
    assert mail["To"] == "ana@example.org"
    assert "/api/v1/mail/confirm?token=" in str(mail.get_payload())
