"""``comments webhook …`` from the shell: add (SSRF-checked), list, test, rotate, log,
remove."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import add_site, wait_until
from tests.integrations.receiver import Receiver


def _cli(
    url: str, cwd: Path, *args: str, private: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COMMENTS_DATABASE_URL": url}
    env.pop("COMMENTS_WEBHOOK_ALLOW_PRIVATE", None)
    if private:
        env["COMMENTS_WEBHOOK_ALLOW_PRIVATE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "comments", "webhook", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def cli(
    url: str, cwd: Path, *args: str, private: bool = False
) -> subprocess.CompletedProcess[str]:
    # In a thread: the receiver answers from this test's event loop meanwhile.
    return await asyncio.to_thread(_cli, url, cwd, *args, private=private)


async def test_the_webhook_commands(tmp_path: Path, sqlite_url: str) -> None:
    await add_site(sqlite_url, "news")
    receiver = await Receiver().start()
    try:
        refused = await cli(sqlite_url, tmp_path, "add", "news", receiver.url)
        assert refused.returncode == 2
        assert "non-public" in refused.stderr and "COMMENTS_WEBHOOK_ALLOW_PRIVATE" in refused.stderr
        added = await cli(
            sqlite_url,
            tmp_path,
            "add",
            "news",
            receiver.url,
            "--event",
            "comment.published",
            private=True,
        )
        assert added.returncode == 0, added.stderr
        secret = json.loads(added.stdout)["secret"]
        assert secret.startswith("whsec_")
        listed = json.loads((await cli(sqlite_url, tmp_path, "list", "news")).stdout)["webhooks"]
        assert [h["events"] for h in listed] == [["comment.published"]]
        assert secret not in json.dumps(listed)
        tested = await cli(sqlite_url, tmp_path, "test", "news", receiver.url, private=True)
        assert tested.returncode == 0, tested.stderr
        await wait_until(lambda: receiver.accepted, timeout=5)
        assert receiver.accepted[0].verifies(secret)
        assert receiver.accepted[0].message["type"] == "webhook.test"
        rotated = await cli(
            sqlite_url, tmp_path, "rotate", "news", receiver.url, "--overlap-hours", "1"
        )
        new_secret = json.loads(rotated.stdout)["secret"]
        assert new_secret != secret
        await cli(sqlite_url, tmp_path, "test", "news", receiver.url, private=True)
        await wait_until(lambda: len(receiver.accepted) == 2, timeout=5)
        assert receiver.accepted[1].verifies(secret) and receiver.accepted[1].verifies(new_secret)
        log = await cli(sqlite_url, tmp_path, "log", "news", receiver.url)
        assert json.loads(log.stdout) == {"deliveries": []}
        assert (await cli(sqlite_url, tmp_path, "remove", "news", receiver.url)).returncode == 0
        gone = await cli(sqlite_url, tmp_path, "remove", "news", receiver.url)
        assert gone.returncode == 2 and "no webhook" in gone.stderr
        bad = await cli(sqlite_url, tmp_path, "list", "nosuch")
        assert bad.returncode == 2 and "no site" in bad.stderr
    finally:
        await receiver.stop()


async def test_add_refuses_an_ipv6_address_that_leads_to_a_private_ipv4(
    tmp_path: Path, sqlite_url: str
) -> None:
    await add_site(sqlite_url, "news")
    for url in ("http://[64:ff9b::7f00:1]:8080/hook", "https://[2002:a00:1::1]/hook"):
        refused = await cli(sqlite_url, tmp_path, "add", "news", url)
        assert refused.returncode == 2, refused.stderr
        assert "non-public" in refused.stderr and "Traceback" not in refused.stderr
    listed = json.loads((await cli(sqlite_url, tmp_path, "list", "news")).stdout)
    assert listed == {"webhooks": []}
    public = await cli(sqlite_url, tmp_path, "add", "news", "https://[64:ff9b::808:808]/hook")
    assert public.returncode == 0, public.stderr


async def test_add_refuses_a_bad_port_with_a_message_not_a_traceback(
    tmp_path: Path, sqlite_url: str
) -> None:
    await add_site(sqlite_url, "news")
    for url in ("http://example.com:99999/hook", "http://example.com:abc/", "http://[::1:/x"):
        for private in (False, True):  # allowing private addresses does not skip it
            refused = await cli(sqlite_url, tmp_path, "add", "news", url, private=private)
            assert refused.returncode == 2, refused.stderr
            assert refused.stderr.startswith("comments: ") and "not a usable URL" in refused.stderr
            assert "Traceback" not in refused.stderr
    listed = json.loads((await cli(sqlite_url, tmp_path, "list", "news")).stdout)
    assert listed == {"webhooks": []}
