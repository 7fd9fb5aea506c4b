"""`comments import` and `export` as operators run them: a progress bar on a terminal,
none in a pipe, and open pages receiving what an import adds."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import websockets

from comments.settings import Settings
from tests.conftest import add_site, wait_until

FIXTURES = Path(__file__).parent / "fixtures"


async def comments_cli(url: str, *args: str, tty: bool = False) -> tuple[int, str, str]:
    """Run `comments ARGS` in its own process (off the event loop)."""
    return await asyncio.to_thread(_cli, url, *args, tty=tty)


def _cli(url: str, *args: str, tty: bool = False) -> tuple[int, str, str]:
    # A wide terminal whatever the test runner's: the bar's line must not wrap.
    env = {**os.environ, "COMMENTS_DATABASE_URL": url, "COLUMNS": "200", "LINES": "50"}
    command = [sys.executable, "-m", "comments", *args]
    if not tty:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr
    # stderr on a pseudo-terminal, as in an operator's shell; stdout still a pipe.
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=terminal, text=True)
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the process closed its end
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out, seen.decode(errors="replace")


async def test_progress_bar_with_rate_and_time_left_on_a_terminal_only(sqlite_url: str) -> None:
    await add_site(sqlite_url)
    from comments.bench.importing import write_disqus_export

    path = Path(sqlite_url.split("///", 1)[1]).with_name("export.xml")
    with path.open("w") as out:
        write_disqus_export(out, 3000)
    code, out, err = await comments_cli(
        sqlite_url, "import", "disqus", str(path), "--site", "news", tty=True
    )
    assert code == 0, err
    # The bar: percentage, rate, time elapsed and left, for reading and for writing.
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err)
    assert re.search(r"reading .*\d+% .*[\d.]+ [kM]?B/s elapsed \d:\d\d:\d\d left", text), text
    assert re.search(
        r"writing .*100% 2\d{3}/2\d{3} elapsed \d:\d\d:\d\d left 0:00:00 [\d,]+ comments/s",
        text,
    ), text
    assert out.startswith("imported 2")
    code, out, err = await comments_cli(
        sqlite_url, "import", "disqus", str(path), "--site", "news", "--json"
    )
    assert code == 0
    assert err == ""  # not a terminal: no bar
    assert json.loads(out.splitlines()[-1])["skipped"]["already imported"] > 2000


async def test_refused_file_is_one_line_and_exit_2(sqlite_url: str) -> None:
    await add_site(sqlite_url)
    code, _, err = await comments_cli(
        sqlite_url, "import", "disqus", str(FIXTURES / "xxe.xml"), "--site", "news"
    )
    assert code == 2
    assert "entities" in err and "nothing was imported" in err
    assert "Traceback" not in err


async def test_export_to_a_file_then_import_jsonl(sqlite_url: str, tmp_path: Path) -> None:
    await add_site(sqlite_url)
    await add_site(sqlite_url, "copy")
    code, _, err = await comments_cli(
        sqlite_url, "import", "wordpress", str(FIXTURES / "wordpress.xml"), "--site", "news"
    )
    assert code == 0, err
    target = tmp_path / "out.jsonl"
    code, out, err = await comments_cli(
        sqlite_url, "export", "--site", "news", "--output", str(target)
    )
    assert code == 0 and out == ""
    assert "exported 3 comments of 2 articles" in err
    code, out, _ = await comments_cli(sqlite_url, "import", "jsonl", str(target), "--site", "copy")
    assert code == 0
    assert out.startswith("imported 3 of 3 comments into 2 articles of site copy")
    code, out, _ = await comments_cli(sqlite_url, "export", "--site", "copy", "--article", "?p=4")
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["type"] for x in lines] == ["export", "article", "comment", "comment"]
    assert lines[1]["title"] == "Hello world!"
    assert lines[1]["url"] == "http://example.tld/?p=4"


async def test_an_open_page_receives_imported_comments(
    start_server, database_url: str, broker_url: str, channel_prefix: str
) -> None:
    """The import is another process: with Redis it tells the nodes at once; with the
    in-process broker the node finds the events on its periodic check."""
    await add_site(database_url)
    settings = Settings(
        database_url=database_url,
        broker_url=broker_url,
        channel_prefix=channel_prefix,
        resync_interval_s=1.0,
    )
    server = await start_server(settings)
    article = "2025/07/lavrov-kim"
    url = f"{server.ws_url}/ws/v1/sites/news/articles/{article}"
    received: list[dict[str, object]] = []
    async with websockets.connect(url) as ws:
        env = {
            **os.environ,
            "COMMENTS_DATABASE_URL": database_url,
            "COMMENTS_REDIS_URL": broker_url,
            "COMMENTS_CHANNEL_PREFIX": channel_prefix,
        }
        done = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "comments",
                "import",
                "disqus",
                str(FIXTURES / "disqus.xml"),
                "--site",
                "news",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr

        async def three() -> bool:
            while len(received) < 3:
                frame = json.loads(await ws.recv())
                received.extend(frame["events"] if frame["type"] == "batch" else [frame])
            return True

        await wait_until(three, timeout=20)
    assert [e["seq"] for e in received] == [1, 2, 3]
    assert received[0]["comment"]["body"].startswith("First & foremost")  # type: ignore[index]
    # A page opened later with since=0 replays them too.
    async with websockets.connect(url + "?since=0") as ws:
        frame = json.loads(await ws.recv())
        events = frame["events"] if frame["type"] == "batch" else [frame]
        assert [e["seq"] for e in events] == [1, 2, 3]
