"""deploy/entrypoint.sh, run directly as the container would run it: first against a fake
`comments` that records what it was given, then against the real one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import websockets

from comments.cli import build_parser
from comments.settings import Settings
from tests.conftest import free_port, wait_until
from tests.deploy.conftest import DEPLOY, dockerfile_stages

ENTRYPOINT = DEPLOY / "entrypoint.sh"
FAKE_NPROC = 8

FAKE_COMMENTS = """#!{python}
import json, os, sys
with open(os.environ["CALLS"], "a") as log:
    log.write(json.dumps({{
        "argv": sys.argv[1:],
        "pid": os.getpid(),
        "torch_threads": os.environ.get("COMMENTS_TORCH_THREADS"),
        "omp_threads": os.environ.get("OMP_NUM_THREADS"),
    }}) + "\\n")
sys.exit(int(os.environ.get("FAIL_" + (sys.argv[1:] or ["none"])[0], "0")))
"""


@dataclass
class Run:
    returncode: int
    pid: int
    calls: list[dict[str, Any]]
    stdout: str


@pytest.fixture
def run_entrypoint(tmp_path: Path) -> Any:
    """Run the entrypoint with a fake `comments` and a fake `nproc` (8 CPUs) first on PATH,
    and a cgroup cpu.max file of the test's own."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "comments").write_text(FAKE_COMMENTS.format(python=sys.executable))
    (bin_dir / "nproc").write_text(f"#!/bin/sh\necho {FAKE_NPROC}\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    calls = tmp_path / "calls.jsonl"
    cpu_max = tmp_path / "cpu.max"

    def run(*args: str, env: dict[str, str] | None = None, cpu: str | None = None) -> Run:
        calls.write_text("")
        if cpu is None:
            cpu_max.unlink(missing_ok=True)
        else:
            cpu_max.write_text(cpu + "\n")
        full_env = {
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "CALLS": str(calls),
            "COMMENTS_CPU_MAX_FILE": str(cpu_max),
            **(env or {}),
        }
        proc = subprocess.Popen(
            [str(ENTRYPOINT), *args],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        stdout, _ = proc.communicate(timeout=30)
        lines = calls.read_text().splitlines()
        return Run(proc.returncode, proc.pid, [json.loads(line) for line in lines], stdout)

    return run


SERVE = ["serve", "--host", "0.0.0.0", "--port", "8000"]


@pytest.mark.parametrize(
    ("args", "env", "argv"),
    [
        ([], {}, SERVE),
        ([], {"PORT": "9100"}, ["serve", "--host", "0.0.0.0", "--port", "9100"]),
        (["serve"], {}, SERVE),
        (["serve", "--ws-deflate"], {}, [*SERVE, "--ws-deflate"]),
        (["--ws-deflate"], {}, [*SERVE, "--ws-deflate"]),
        (["migrate"], {}, ["migrate"]),
        (["site", "add", "news", "--guests"], {}, ["site", "add", "news", "--guests"]),
        (["comments", "moderator", "add", "ana", "--site", "news"], {}, None),
        (["worker"], {}, ["worker"]),
        (["model", "fetch", "original"], {}, ["model", "fetch", "original"]),
    ],
    ids=[
        "default-serves",
        "PORT",
        "serve",
        "serve-options",
        "bare-options-go-to-serve",
        "migrate",
        "subcommand",
        "comments-prefix",
        "worker",
        "model-fetch",
    ],
)
def test_command_becomes_one_comments_process_in_place_of_the_entrypoint(
    run_entrypoint: Any, args: list[str], env: dict[str, str], argv: list[str] | None
) -> None:
    run = run_entrypoint(*args, env=env)
    assert run.returncode == 0, run.stdout
    expected = argv if argv is not None else args[1:]
    assert [c["argv"] for c in run.calls] == [expected]
    # exec'd: the program is the container's main process, so SIGTERM reaches uvicorn.
    assert run.calls[0]["pid"] == run.pid


def test_serve_arguments_are_what_the_real_cli_accepts(run_entrypoint: Any) -> None:
    (call,) = run_entrypoint("serve", "--ws-deflate", env={"PORT": "9100"}).calls
    args = build_parser().parse_args(call["argv"])
    assert (args.command, args.host, args.port, args.ws_deflate) == ("serve", "0.0.0.0", 9100, True)


def test_options_given_after_serve_override_the_defaults(run_entrypoint: Any) -> None:
    (call,) = run_entrypoint("serve", "--host", "127.0.0.1", "--port", "9200").calls
    args = build_parser().parse_args(call["argv"])
    assert (args.host, args.port) == ("127.0.0.1", 9200)


@pytest.mark.parametrize("flag", ["1", "true"])
def test_migrate_when_asked_runs_before_serve(run_entrypoint: Any, flag: str) -> None:
    run = run_entrypoint(env={"COMMENTS_MIGRATE": flag})
    assert run.returncode == 0, run.stdout
    assert [c["argv"] for c in run.calls] == [["migrate"], SERVE]
    assert run.calls[0]["pid"] != run.pid  # a step …
    assert run.calls[1]["pid"] == run.pid  # … then the server in its place


def test_failed_migration_stops_the_container_before_serving(run_entrypoint: Any) -> None:
    run = run_entrypoint(env={"COMMENTS_MIGRATE": "1", "FAIL_migrate": "3"})
    assert run.returncode == 3
    assert [c["argv"] for c in run.calls] == [["migrate"]]


@pytest.mark.parametrize("flag", ["", "0", "no"])
def test_no_migration_unless_asked(run_entrypoint: Any, flag: str) -> None:
    run = run_entrypoint(env={"COMMENTS_MIGRATE": flag})
    assert [c["argv"] for c in run.calls] == [SERVE]


def test_other_programs_run_as_given(run_entrypoint: Any) -> None:
    run = run_entrypoint("sh", "-c", "echo from-sh")
    assert run.returncode == 0
    assert run.stdout.strip() == "from-sh"
    assert run.calls == []


@pytest.mark.parametrize(
    ("cpu_max", "threads"),
    [
        ("200000 100000", 2),  # a 2-CPU limit
        ("100000 100000", 1),
        ("250000 100000", 2),  # 2.5 CPUs: rounded down, never throttled
        ("50000 100000", 1),  # half a CPU: still one thread
        ("max 100000", FAKE_NPROC),  # no limit
        ("6400000 100000", FAKE_NPROC),  # a limit above the CPUs there are
        ("garbage", FAKE_NPROC),
        ("100000 0", FAKE_NPROC),
        (None, FAKE_NPROC),  # no cgroup v2 file
    ],
    ids=["2-cpus", "1-cpu", "2.5-cpus", "half-cpu", "max", "above-nproc", "garbage",
         "zero-period", "no-file"],
)  # fmt: skip
def test_torch_threads_follow_the_containers_cpu_quota(
    run_entrypoint: Any, cpu_max: str | None, threads: int
) -> None:
    (call,) = run_entrypoint(cpu=cpu_max).calls
    assert call["torch_threads"] == str(threads)
    assert call["omp_threads"] == str(threads)
    # …and the server takes it.
    settings = Settings.from_env({"COMMENTS_TORCH_THREADS": call["torch_threads"]})
    assert settings.torch_threads == threads


def test_torch_threads_set_by_the_operator_are_kept(run_entrypoint: Any) -> None:
    (call,) = run_entrypoint(env={"COMMENTS_TORCH_THREADS": "3"}, cpu="100000 100000").calls
    assert (call["torch_threads"], call["omp_threads"]) == ("3", "3")


def test_shellcheck_finds_nothing() -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    result = subprocess.run(
        [str(shellcheck), str(ENTRYPOINT)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


# The real `comments`, as the image runs it: sites and moderators through the entrypoint,
# then a node that migrates, serves, passes the image's HEALTHCHECK and drains on SIGTERM.


def healthcheck_command() -> list[str]:
    (value,) = [i["value"] for i in dockerfile_stages()[-1] if i["instruction"] == "HEALTHCHECK"]
    command: list[str] = json.loads(value.split("CMD", 1)[1])
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


async def run(*command: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def tail(path: Path) -> str:
    return path.read_text()[-3000:]


def open_for_writing(path: Path) -> IO[bytes]:
    return path.open("wb")


def command_line(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


async def test_real_node_through_the_entrypoint_serves_then_drains_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMENTS_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
        PORT=str(port),
        COMMENTS_DATABASE_URL=f"sqlite:///{tmp_path / 'comments.db'}",
        COMMENTS_CLASSIFIER="profanity-check",
        COMMENTS_MIGRATE="1",
    )
    entrypoint = str(ENTRYPOINT)

    code, out, err = await run(entrypoint, "site", "add", "news", "--guests", env=env, cwd=tmp_path)
    assert code == 0, err
    assert json.loads(out)["settings"]["guests"] is True
    code, out, err = await run(entrypoint, "moderator", "add", "ana", "--site", "news", env=env,
                               cwd=tmp_path)  # fmt: skip
    assert code == 0, err
    assert len(out.strip()) >= 20  # the token

    async def healthy() -> bool:
        code, _, _ = await run(*healthcheck_command(), env=env, cwd=tmp_path)
        return code == 0

    assert not await healthy()  # nothing serves yet: the check can fail
    log = tmp_path / "node.log"
    # `--host 127.0.0.1` after the entrypoint's `--host 0.0.0.0` wins: tests bind loopback.
    with open_for_writing(log) as log_file:
        node = await asyncio.create_subprocess_exec(
            entrypoint, "serve", "--host", "127.0.0.1",
            env=env, cwd=tmp_path, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        await wait_until(lambda: node.returncode is not None or healthy(), timeout=60, interval=0.2)
        assert node.returncode is None, tail(log)
        assert "database is up to date" in tail(log)  # COMMENTS_MIGRATE=1 ran the real one
        assert b"serve" in command_line(node.pid)  # exec'd: the server is the main process

        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["classifier"]["name"] == "profanity-check"
            socket_url = f"ws://127.0.0.1:{port}/ws/v1/sites/news/articles/launch"
            async with websockets.connect(socket_url) as ws:
                posted = await client.post(
                    "/api/v1/sites/news/articles/launch/comments",
                    json={"body": "Shipped in a container", "author_name": "Ana"},
                )
                assert posted.status_code == 201, posted.text
                event = json.loads(await asyncio.wait_for(ws.recv(), 10))
                events = event["events"] if event["type"] == "batch" else [event]
                assert events[0]["comment"]["body"] == "Shipped in a container"

                node.send_signal(signal.SIGTERM)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 20)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1012  # clients reconnect elsewhere
        # uvicorn, done draining, re-raises the SIGTERM it caught: the exit status says so.
        returncode = await asyncio.wait_for(node.wait(), 30)
        assert returncode in (0, -signal.SIGTERM), tail(log)
        assert "Application shutdown complete" in tail(log)
        assert not await healthy()
    finally:
        if node.returncode is None:
            node.kill()
            await node.wait()
