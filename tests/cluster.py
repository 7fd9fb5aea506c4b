"""A real Redis Cluster for the tests that need one: three masters (redis-server in cluster
mode on free ports of 127.0.0.1, joined by ``redis-cli --cluster create``), started once
per session and only when a test asks for ``redis_cluster``. A test may stop and restart a
cluster node; the next test gets the cluster back whole. The fixtures are registered by
tests/conftest.py, so one cluster serves every directory."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

MASTERS = 3
# How long the cluster may take to agree it is whole (a restarted master waits out its
# rejoin delay and the others their fail-undo time: a few node timeouts).
CLUSTER_OK_S = 60.0


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/bin/{name}"


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (each socket stays bound until all are chosen)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


class ClusterNode:
    """One redis-server of the cluster, restartable with the same port and nodes.conf."""

    def __init__(self, workdir: Path, port: int, bus_port: int) -> None:
        self.port = port
        # Set rather than left to port + 10000, which may be taken or past 65535.
        self.bus_port = bus_port
        self.workdir = workdir
        self.log = workdir / f"redis-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=5, decode_responses=True
        )

    def command(self, *args: str) -> object:
        with self.client() as r:
            return r.execute_command(*args)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                _binary("redis-server"),
                "--port",
                str(self.port),
                "--cluster-port",
                str(self.bus_port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                f"nodes-{self.port}.conf",
                "--cluster-node-timeout",
                "2000",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            # Ours, not some other server that had the port first.
            with contextlib.suppress(redis.RedisError):
                info = self.command("INFO", "server")
                if isinstance(info, dict) and info.get("process_id") == self.proc.pid:
                    return
            time.sleep(0.05)
        self.stop()
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        raise AssertionError(f"cluster node on port {self.port} did not start: {tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cluster_state(self) -> str:
        info = self.command("CLUSTER", "INFO")
        assert isinstance(info, str)
        for line in info.splitlines():
            if line.startswith("cluster_state:"):
                return line.split(":", 1)[1].strip()
        return "unknown"


class RedisCluster:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.nodes: list[ClusterNode] = []

    @property
    def url(self) -> str:
        return "redis-cluster://" + ",".join(n.address for n in self.nodes)

    def start(self, attempts: int = 3) -> None:
        """Start and join the masters; on fresh ports again if one was taken meanwhile
        (by another test run on this machine)."""
        for attempt in range(attempts):
            workdir = self.workdir / f"attempt-{attempt}"
            workdir.mkdir()
            ports = free_ports(2 * MASTERS)
            self.nodes = [ClusterNode(workdir, *ports[i : i + 2]) for i in range(0, len(ports), 2)]
            try:
                self._create()
                return
            except AssertionError:
                self.stop()
                if attempt == attempts - 1:
                    raise

    def _create(self) -> None:
        for node in self.nodes:
            node.start()
        created = subprocess.run(
            [
                _binary("redis-cli"),
                "--cluster",
                "create",
                *(n.address for n in self.nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            timeout=60,
        )
        if created.returncode != 0:
            output = (created.stdout + created.stderr).decode(errors="replace")[-2000:]
            raise AssertionError(f"redis-cli --cluster create failed: {output}")
        self.wait_ok()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def ok(self) -> bool:
        try:
            return all(n.running and n.cluster_state() == "ok" for n in self.nodes)
        except redis.RedisError:
            return False

    def wait_ok(self) -> None:
        deadline = time.monotonic() + CLUSTER_OK_S
        while not self.ok():
            if time.monotonic() > deadline:
                raise AssertionError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    def owner(self, channel: str) -> ClusterNode:
        """The master that serves ``channel``'s hash slot."""
        slot = key_slot(channel.encode())
        asker = next(n for n in self.nodes if n.running)
        ranges = asker.command("CLUSTER", "SLOTS")
        assert isinstance(ranges, list)
        for start, end, master, *_ in ranges:
            if start <= slot <= end:
                return next(n for n in self.nodes if n.port == int(master[1]))
        raise AssertionError(f"slot {slot} has no owner")

    def subscribers(self, node: ClusterNode, channel: str) -> int:
        """What PUBSUB SHARDNUMSUB on ``node`` counts for ``channel``."""
        reply = node.command("PUBSUB", "SHARDNUMSUB", channel)
        assert isinstance(reply, list) and len(reply) == 2
        return int(reply[1])

    def spublish_calls(self, node: ClusterNode) -> int:
        """SPUBLISH commands ``node`` has executed since it started."""
        with node.client() as r:
            stats = r.info("commandstats")
        return int(stats.get("cmdstat_spublish", {}).get("calls", 0))


@pytest.fixture(scope="session")
def redis_cluster_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_cluster(redis_cluster_session: RedisCluster) -> RedisCluster:
    """The session's cluster, whole: a node an earlier test stopped is started again."""
    for node in redis_cluster_session.nodes:
        if not node.running:
            node.start()
    redis_cluster_session.wait_ok()
    return redis_cluster_session
