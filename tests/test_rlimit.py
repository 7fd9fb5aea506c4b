"""A node raises its own open-files limit: started with the common soft limit of a few
hundred files, it could otherwise hold only that many sockets."""

from __future__ import annotations

import contextlib
import resource
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

LOW = 256


def lower_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW, hard))


def soft_open_files_limit(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return line.split()[3]
    raise AssertionError("no 'Max open files' line")


def test_serve_raises_its_soft_open_files_limit_to_the_hard_one(tmp_path: Path) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    port = free_port()
    log = tmp_path / "node.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "comments", "serve", "--port", str(port)],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lower_limit,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        soft = soft_open_files_limit(proc.pid)
        assert soft != str(LOW)
        if hard != resource.RLIM_INFINITY:
            assert soft == str(hard)
    finally:
        proc.terminate()
        proc.wait(15)
