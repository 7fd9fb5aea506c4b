"""Webhook signatures follow the Standard Webhooks specification; addresses are checked
against SSRF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from comments.integrations.webhooks import (
    WebhookRefused,
    check_destination,
    check_events,
    sign_headers,
)
from comments.store.outbox import EVENTS
from comments.store.webhooks import Webhook, new_secret

# The specification's published example (standard-webhooks/spec, "Signature scheme").
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_matches_the_specifications_example() -> None:
    at = datetime.fromtimestamp(SPEC_TIMESTAMP, UTC)
    headers = sign_headers([SPEC_SECRET], SPEC_ID, at, SPEC_BODY)
    assert headers["webhook-id"] == SPEC_ID
    assert headers["webhook-timestamp"] == str(SPEC_TIMESTAMP)
    assert headers["webhook-signature"] == SPEC_SIGNATURE


def test_a_rotated_webhook_signs_with_both_secrets_until_the_overlap_ends() -> None:
    now = datetime.now(UTC)
    hook = Webhook(
        1,
        "news",
        "https://x.example/h",
        ("comment.published",),
        new_secret(),
        SPEC_SECRET,
        now + timedelta(hours=1),
    )
    signatures = sign_headers(hook.signing_secrets(now), SPEC_ID, now, "{}")
    assert len(signatures["webhook-signature"].split(" ")) == 2
    assert hook.signing_secrets(now + timedelta(hours=2)) == [hook.secret]


def test_new_secrets_are_whsec_base64() -> None:
    import base64

    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/hook",
        "http://192.168.0.1/hook",
        "http://172.16.0.1/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
        "http://[fe80::1]/hook",
        "http://[fc00::1]/hook",
        "http://240.0.0.1/hook",
    ],
)
async def test_private_and_reserved_destinations_are_refused(url: str) -> None:
    with pytest.raises(WebhookRefused, match=r"non-public|does not resolve"):
        await check_destination(url, allow_private=False)
    await check_destination(url, allow_private=True)  # the operator allows them


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "/relative",
        "http://user:pw@example.com/",
        "http:///x",
        "http://example.com:99999/hook",
        "http://example.com:65536/hook",
        "http://example.com:0/hook",
        "http://example.com:abc/hook",
        "http://[::1:/hook",
    ],
)
async def test_malformed_urls_are_refused_even_when_private_ones_are_allowed(url: str) -> None:
    with pytest.raises(WebhookRefused):
        await check_destination(url, allow_private=True)


async def test_a_public_address_passes() -> None:
    await check_destination("https://93.184.215.14/hook", allow_private=False)


@pytest.mark.parametrize(
    ("host", "inside"),
    [
        ("64:ff9b::7f00:1", "127.0.0.1"),  # NAT64 (RFC 6052) of loopback
        ("64:ff9b::a00:1", "10.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),  # a cloud's metadata service
        ("64:ff9b::c0a8:1", "192.168.0.1"),
        ("2002:7f00:1::", "127.0.0.1"),  # 6to4: the IPv4 is bits 16-48
        ("2002:a00:1::1", "10.0.0.1"),
        ("2002:a9fe:a9fe::1", "169.254.169.254"),
        ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("::127.0.0.1", "127.0.0.1"),  # IPv4-compatible (deprecated)
        ("::a00:1", "10.0.0.1"),
    ],
)
async def test_ipv6_addresses_that_lead_to_a_private_ipv4_are_refused(
    host: str, inside: str
) -> None:
    with pytest.raises(WebhookRefused, match="non-public") as refused:
        await check_destination(f"http://[{host}]:8080/hook", allow_private=False)
    assert f"IPv4 {inside}" in str(refused.value)
    await check_destination(f"http://[{host}]:8080/hook", allow_private=True)


@pytest.mark.parametrize("host", ["64:ff9b:1::1", "64:ff9b:1::808:808"])
async def test_local_use_nat64_is_refused_whatever_it_embeds(host: str) -> None:
    # RFC 8215: a network's own translator, not a global route.
    with pytest.raises(WebhookRefused, match="non-public"):
        await check_destination(f"https://[{host}]/hook", allow_private=False)


@pytest.mark.parametrize(
    "host",
    [
        "64:ff9b::808:808",  # NAT64 of 8.8.8.8
        "2002:808:808::1",  # 6to4 of 8.8.8.8
        "::ffff:8.8.8.8",
        "2606:4700:4700::1111",
    ],
)
async def test_ipv6_addresses_that_lead_to_a_public_ipv4_pass(host: str) -> None:
    await check_destination(f"https://[{host}]/hook", allow_private=False)


def test_events_are_checked() -> None:
    assert set(check_events([])) == set(EVENTS)
    assert check_events(["comment.published"]) == ["comment.published"]
    with pytest.raises(WebhookRefused, match="unknown"):
        check_events(["comment.exploded"])
