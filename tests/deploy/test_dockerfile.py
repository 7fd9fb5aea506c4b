"""deploy/Dockerfile, read as Docker would build it (no Docker engine here): what the
image runs as, where it keeps the model, how torch gets in, how it says it is healthy."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from tests.deploy.conftest import DEPLOY, ROOT, dockerfile_stages

TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def of(stage: list[dict[str, Any]], instruction: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == instruction]


def env_of(stage: list[dict[str, Any]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in of(stage, "ENV"):
        for pair in shlex.split(value):
            name, _, setting = pair.partition("=")
            env[name] = setting
    return env


def pip_installs(stage: list[dict[str, Any]]) -> list[list[str]]:
    """Each RUN's ``pip install`` arguments, in build order."""
    runs = []
    for value in of(stage, "RUN"):
        words = shlex.split(value)
        if words[:2] == ["pip", "install"]:
            runs.append(words[2:])
    return runs


def test_the_package_installs_from_the_lock_with_detoxify() -> None:
    (args,) = [a for a in pip_installs(dockerfile_stages()[0]) if ".[detoxify]" in a]
    assert args[args.index("--constraint") + 1] == "requirements/dev.lock"


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_stage_is_python_3_11_slim() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 1
    for stage in stages:
        image = of(stage, "FROM")[0].split()[0]
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", image), image


def test_torch_is_the_cpu_build_at_the_projects_pin() -> None:
    build = dockerfile_stages()[0]
    installs = pip_installs(build)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("torch") for d in project["dependencies"])
    pin = next(d for d in project["optional-dependencies"]["detoxify"] if d.startswith("torch"))
    assert pin == "torch==2.13.0"
    assert pin in (ROOT / "requirements" / "dev.lock").read_text().splitlines()
    torch_runs = [i for i, args in enumerate(installs) if any(a.startswith("torch") for a in args)]
    assert len(torch_runs) == 1, installs
    torch_args = installs[torch_runs[0]]
    # From the CPU index only, and nothing else from it.
    assert torch_args[torch_args.index("--index-url") + 1] == TORCH_CPU_INDEX
    assert [a for a in torch_args if not a.startswith("-") and a != TORCH_CPU_INDEX] == [pin]
    # The package comes after, from PyPI, and finds that torch already satisfied.
    package_runs = [i for i, args in enumerate(installs) if "." in args or ".[detoxify]" in args]
    assert package_runs and package_runs[0] > torch_runs[0]
    for args in (installs[i] for i in package_runs):
        assert not any("download.pytorch.org" in a or "index-url" in a for a in args), args


def test_image_runs_as_a_non_root_numeric_user(final_stage: list[dict[str, Any]]) -> None:
    users = of(final_stage, "USER")
    assert users, "no USER: the image would run as root"
    user, _, group = users[-1].partition(":")
    assert user.isdigit() and int(user) > 0, users[-1]
    assert not group or (group.isdigit() and int(group) > 0)
    # Nothing after USER switches back to root.
    last_user = max(i["startline"] for i in final_stage if i["instruction"] == "USER")
    assert all(i["startline"] < last_user for i in final_stage if i["instruction"] == "RUN")


def test_model_cache_is_a_volume_holding_torch_and_hugging_face_homes(
    final_stage: list[dict[str, Any]],
) -> None:
    volumes = [v for value in of(final_stage, "VOLUME") for v in json.loads(value)]
    env = env_of(final_stage)
    for home in ("TORCH_HOME", "HF_HOME"):
        assert any(PurePosixPath(env[home]).is_relative_to(v) for v in volumes), (home, volumes)


def test_healthcheck_asks_healthz_with_python_on_the_served_port(
    final_stage: list[dict[str, Any]],
) -> None:
    (healthcheck,) = of(final_stage, "HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command[0] == "python"
    assert "/healthz" in command[-1]
    assert "PORT" in command[-1]
    assert env_of(final_stage)["PORT"] == of(final_stage, "EXPOSE")[0] == "8000"


def test_entrypoint_is_the_deploy_script_serving_by_default(
    final_stage: list[dict[str, Any]],
) -> None:
    (entrypoint,) = of(final_stage, "ENTRYPOINT")
    program = json.loads(entrypoint)[0]
    copies = [shlex.split(v) for v in of(final_stage, "COPY")]
    assert any(c[-2:] == ["deploy/entrypoint.sh", f"/usr/local/bin/{program}"] for c in copies)
    assert any("--chmod=0755" in c for c in copies if "deploy/entrypoint.sh" in c)
    assert json.loads(of(final_stage, "CMD")[0]) == ["serve"]
    assert of(final_stage, "STOPSIGNAL") in ([], ["SIGTERM"])


def copied_sources() -> list[str]:
    sources = []
    for stage in dockerfile_stages():
        for value in of(stage, "COPY"):
            words = [w for w in shlex.split(value) if not w.startswith("--")]
            if not any(w.startswith("--from") for w in shlex.split(value)):
                sources += words[:-1]
    return sources


def test_copied_files_exist_in_the_build_context() -> None:
    sources = copied_sources()
    assert "comments" in sources and "pyproject.toml" in sources
    for source in sources:
        assert (ROOT / source).exists(), source


def _glob_regex(pattern: str) -> str:
    """A .dockerignore pattern as a regex: `*` and `?` stay within a folder, `**` crosses."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            out += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return out


def _docker_ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path, or one of its parent folders,
    decides; a `!` pattern re-includes."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        regex = _glob_regex(raw.removeprefix("!").strip("/"))
        if any(re.fullmatch(regex, p) for p in prefixes):
            ignored = not negate
    return ignored


def dockerignore_patterns() -> list[str]:
    lines = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("pyproject.toml", True),
        ("README.md", True),
        ("requirements/dev.lock", True),
        ("comments/web/app.py", True),
        ("comments/store/migrations/versions/0001_initial.py", True),
        ("comments/static/embed.js", True),
        ("deploy/entrypoint.sh", True),
        (".venv/bin/python", False),
        (".git/HEAD", False),
        ("comments.db", False),
        ("tests/conftest.py", False),
        ("comments/web/__pycache__/app.cpython-311.pyc", False),
        ("deploy/k8s/node-deployment.yaml", False),
    ],
    ids=lambda v: str(v),
)
def test_dockerignore_sends_the_build_only_what_it_copies(path: str, sent: bool) -> None:
    assert _docker_ignored(path, dockerignore_patterns()) is not sent


def test_dockerignore_keeps_every_copied_source() -> None:
    patterns = dockerignore_patterns()
    for source in copied_sources():
        assert not _docker_ignored(source, patterns), source
