"""The processes a benchmark starts: servers under test and the load generator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from comments.bench import procfs

_START_TIMEOUT_S = 90.0
_STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Process:
    """A child process with its output in a log file."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path | None) -> None:
        self.name = name
        self.proc = proc
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return procfs.cpu_seconds(self.pid)

    def rss_kb(self) -> int:
        return procfs.rss_kb(self.pid)

    def log_tail(self, chars: int = 3000) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")[-chars:]

    def check_alive(self) -> None:
        if self.proc.returncode is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
            )

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), _STOP_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()


class Server(Process):
    """A server under test, listening on 127.0.0.1:``port``."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path, port: int) -> None:
        super().__init__(name, proc, log)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


async def _spawn(name: str, argv: list[str], folder: Path, env: dict[str, str]) -> Server:
    port = free_port()
    log = folder / f"{name}-{port}.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *[a.replace("{port}", str(port)) for a in argv],
            env={**os.environ, **env},
            cwd=folder,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    return Server(name, proc, log, port)


async def start_node(
    name: str, folder: Path, env: dict[str, str], *, timeout: float = _START_TIMEOUT_S
) -> Server:
    """``comments serve`` on a free port, once ``/readyz`` answers 200."""
    import httpx

    server = await _spawn(
        name, [sys.executable, "-m", "comments", "serve", "--port", "{port}"], folder, env
    )
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=server.url, timeout=2) as client:
        while True:
            server.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return server
            if time.monotonic() > deadline:
                await server.stop()
                raise RuntimeError(f"{name} was not ready in time:\n{server.log_tail()}")
            await asyncio.sleep(0.1)


async def start_worker(folder: Path, env: dict[str, str]) -> Process:
    """``comments worker`` (scores for nodes with ``COMMENTS_SCORING=workers``)."""
    log = folder / f"worker-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "comments",
            "worker",
            env={**os.environ, **env},
            cwd=folder,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    return Process("worker", proc, log)


async def start_baseline(kind: str, folder: Path, redis_url: str, channel: str) -> Server:
    """A baseline server (:mod:`comments.bench.baselines`), once it accepts connections."""
    server = await _spawn(
        kind,
        [
            *(sys.executable, "-m", "comments.bench.baselines", kind),
            *("--port", "{port}", "--redis", redis_url, "--channel", channel),
        ],
        folder,
        {},
    )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        server.check_alive()
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.close()
            await writer.wait_closed()
            return server
        if time.monotonic() > deadline:
            await server.stop()
            raise RuntimeError(f"{kind} did not listen in time:\n{server.log_tail()}")
        await asyncio.sleep(0.1)


class LoadGen(Process):
    """The load generator (:mod:`comments.bench.loadgen`), driven over its stdin/stdout."""

    @classmethod
    async def start(cls, name: str = "loadgen") -> LoadGen:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "comments.bench.loadgen",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 26,  # a latency histogram can make a long line
        )
        return cls(name, proc, None)

    async def ask(self, command: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
        """Send one command; return its answer."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"the load generator exited ({self.proc.returncode})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"load generator: {reply['error']}")
        return reply

    async def stop(self) -> None:
        if self.proc.returncode is None and self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.write(b'{"cmd": "quit"}\n')
                await self.proc.stdin.drain()
                self.proc.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), _STOP_TIMEOUT_S)
        await super().stop()
