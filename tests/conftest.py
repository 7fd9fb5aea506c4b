"""Fixtures shared by the suite: real databases, real brokers, real servers.

PostgreSQL and Redis must be running, where COMMENTS_TEST_PG_HOST/PORT/USER and
COMMENTS_TEST_REDIS_URL say (by default 127.0.0.1:5432 as postgres, and 127.0.0.1:6379):
scripts/test starts private ones and sets these when they are not set. Each test gets its
own PostgreSQL database (cloned from a migrated template) and its own broker channel
prefix, so tests never see each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from comments.server.config import build_config
from comments.settings import Settings
from comments.store import Store, create_store
from comments.web.app import create_app

# The real Redis Cluster fixtures, here so that one session cluster serves every directory.
from tests.cluster import redis_cluster, redis_cluster_session  # noqa: F401

PG_HOST = os.environ.get("COMMENTS_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("COMMENTS_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("COMMENTS_TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("COMMENTS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


TESTS = Path(__file__).resolve().parent

#: Tiers, applied here so that test files carry no tier marks (registered in pyproject):
#: a folder's tests all get its mark...
DIRECTORY_MARKS = {"widget": "browser", "faults": "faults", "bench": "bench"}
#: ...and so does every test using one of these fixtures: the cluster's, and those that
#: start `comments serve` processes or redis-servers of their own (seconds each).
FIXTURE_MARKS = {
    "redis_cluster": "cluster",
    "redis_cluster_session": "cluster",
    "start_node": "slow",
    "start_worker": "slow",
    "private_redis": "slow",
}
#: Other tests that take seconds (over 1.5 s with --durations, on 2 busy cores; most take
#: 0.2 s), by file and function (None: the whole file): subprocess CLIs, generated-request
#: fuzzing, a real node through the image's entrypoint, timeouts waited out.
SLOW_TESTS: dict[str, set[str] | None] = {
    "security/test_no_server_errors.py": None,
    "test_rlimit.py": None,
    "test_cli.py": None,  # a `comments` process per call
    "deploy/test_entrypoint.py": {
        "test_real_node_through_the_entrypoint_serves_then_drains_on_sigterm"
    },
    "moderation/test_moderators.py": {
        "test_cli_prints_a_token_once_and_stores_only_its_hash",
        "test_revoked_token_is_401",
    },
    "live/test_websocket.py": {
        "test_far_behind_client_is_told_to_reset",
        "test_replay_and_live_meet_without_gap_or_repeat",
    },
    "workers/test_workers.py": None,  # scoring workers beside a node, seconds each
}
#: Tests that measure or overload the machine run one at a time (an xdist group each).
SERIAL_FOLDERS = {"faults", "bench"}


def tier_marks(item: pytest.Item, relative: Path) -> set[str]:
    marks = {DIRECTORY_MARKS[relative.parts[0]]} if relative.parts[0] in DIRECTORY_MARKS else set()
    marks |= {m for f, m in FIXTURE_MARKS.items() if f in getattr(item, "fixturenames", ())}
    # A parametrized broker or limiter fixture asks for the cluster only in its "cluster"
    # case (request.getfixturevalue), which fixturenames cannot show.
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "cluster" in callspec.params.values():
        marks.add("cluster")
    slow = SLOW_TESTS.get(relative.as_posix(), set())
    if slow is None or getattr(item, "originalname", item.name) in slow:
        marks.add("slow")
    return marks


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path)
        if not path.is_relative_to(TESTS):
            continue
        relative = path.relative_to(TESTS)
        for mark in sorted(tier_marks(item, relative)):
            item.add_marker(mark)
        folder = relative.parts[0]
        if folder in SERIAL_FOLDERS:
            item.add_marker(pytest.mark.xdist_group(folder))
        elif folder == "widget":
            # A browser and a server per module (module-scoped fixtures): keep each
            # module on one xdist worker rather than starting them on every worker.
            item.add_marker(pytest.mark.xdist_group(f"module:{path.name}"))


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _pg_admin(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=10
    )
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated database that every PostgreSQL test clones (CREATE … TEMPLATE)."""
    name = f"comments_tmpl_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))

    async def migrate() -> None:
        store = create_store(pg_url(name))
        await store.migrate()
        await store.close()

    asyncio.run(migrate())
    yield name
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@functools.cache
def _clone_strategy() -> str:
    """PostgreSQL 15+ clones with WAL_LOG by default, which logs every block of a small
    database; FILE_COPY copies the files (several times faster here), at a checkpoint
    that costs little on a test server."""

    async def version() -> int:
        import asyncpg

        conn = await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=10
        )
        try:
            return int(await conn.fetchval("SHOW server_version_num"))
        finally:
            await conn.close()

    return " STRATEGY FILE_COPY" if asyncio.run(version()) >= 150000 else ""


@pytest.fixture
def postgres_url(pg_template: str) -> Iterator[str]:
    name = f"comments_t_{secrets.token_hex(6)}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"{_clone_strategy()}'))
    yield pg_url(name)
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that every SQLite test starts from a copy of, as PostgreSQL
    tests clone pg_template: migrating an empty file costs 0.1 s of CPU a test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "comments.db"

    async def migrate() -> None:
        store = create_store(f"sqlite+aiosqlite:///{path}")
        await store.migrate()
        await store.close()

    asyncio.run(migrate())
    # Closed, it is one file: the last connection checkpoints and removes the WAL.
    assert not path.with_name(f"{path.name}-wal").exists()
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    database = tmp_path / "comments.db"
    shutil.copyfile(sqlite_template, database)
    return f"sqlite+aiosqlite:///{database}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Every test that takes this runs on SQLite and on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture(params=["memory", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """Every test that takes this runs on the in-process broker and on real Redis."""
    return "memory://" if request.param == "memory" else REDIS_URL


@pytest.fixture
def channel_prefix() -> str:
    return f"t{secrets.token_hex(6)}"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = create_store(database_url)
    await s.migrate()
    yield s
    await s.close()


OPEN_SITE: dict[str, Any] = {
    "guests": True,
    "origins": ["https://partner.example"],
    # Tests post quickly from one address; the limits have tests of their own.
    "posts_per_minute_per_author": 0,
    "posts_per_minute_per_ip": 0,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_until(
    condition: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Poll ``condition`` (sync or async) until truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


async def _json_writes(request: httpx.Request) -> None:
    """The API takes writes as JSON only (415 otherwise): like every client of it, say
    so on a write that carries no body or content type of its own. A test that checks
    the refusal sets another Content-Type, or uses a plain httpx client."""
    if request.method in WRITES and "content-type" not in request.headers:
        request.headers["Content-Type"] = "application/json"


def api_client(base_url: str, **options: Any) -> httpx.AsyncClient:
    """An HTTP client for the API (see ``_json_writes``)."""
    return httpx.AsyncClient(
        base_url=base_url, event_hooks={"request": [_json_writes]}, **{"timeout": 10, **options}
    )


class RunningServer:
    """A real uvicorn server on 127.0.0.1, in this test's event loop."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], port: int) -> None:
        self.server = server
        self.task = task
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"

    @property
    def app(self) -> Any:
        app: Any = self.server.config.loaded_app
        while not hasattr(app, "state"):  # under uvicorn's middleware (proxy headers)
            app = app.app
        return app

    @property
    def node(self) -> Any:
        return self.app.state.node

    def client(self) -> httpx.AsyncClient:
        return api_client(self.url)

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 15)


@pytest.fixture
async def start_server() -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``await start_server(settings)`` → RunningServer (stopped at teardown)."""
    running: list[RunningServer] = []

    async def start(
        settings: Settings,
        *,
        freeze_gc: bool = False,
        demo: Any = None,
        **uvicorn_options: Any,
    ) -> RunningServer:
        port = free_port()
        # What `comments serve` runs, in this test's event loop.
        config = build_config(
            create_app(settings, freeze_gc=freeze_gc, demo=demo),
            settings,
            port=port,
            log_level="warning",
            lifespan="on",
            **uvicorn_options,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        await wait_until(lambda: server.started or task.done(), timeout=30)
        if task.done():
            task.result()
            raise AssertionError("server stopped during start-up")
        rs = RunningServer(server, task, port)
        running.append(rs)
        return rs

    yield start
    for rs in running:
        if not rs.task.done():
            await rs.stop()


@pytest.fixture
def settings(database_url: str, broker_url: str, channel_prefix: str) -> Settings:
    return Settings(
        database_url=database_url,
        broker_url=broker_url,
        channel_prefix=channel_prefix,
        resync_interval_s=1.0,
    )


async def add_site(database_url: str, slug: str = "news", **overrides: Any) -> None:
    s = create_store(database_url)
    try:
        await s.migrate()
        await s.create_site(slug, {**OPEN_SITE, **overrides})
    finally:
        await s.close()


class Node:
    """A `comments serve` process (for tests about several nodes and crashes)."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        self.log = log

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    """Factory: ``start_node(env)`` → a running `comments serve` process on a free port."""
    nodes: list[Node] = []

    def start(env: dict[str, str]) -> Node:
        port = free_port()
        log = tmp_path / f"node-{port}.log"
        full_env = {**os.environ, **env}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "comments", "serve", "--port", str(port)],
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        node = Node(proc, port, log)
        nodes.append(node)
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"node exited: {log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{node.url}/healthz", timeout=1).status_code == 200:
                    return node
            if time.monotonic() > deadline:
                raise AssertionError(f"node did not start: {log.read_text()[-3000:]}")
            time.sleep(0.1)

    yield start
    for node in nodes:
        node.stop()


class PrivateRedis:
    """A redis-server of this test's own, so the test may stop and restart it."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        raise AssertionError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    r = PrivateRedis(free_port(), tmp_path)
    r.start()
    yield r
    r.stop()
