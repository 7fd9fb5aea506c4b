"""Fixtures for the deploy/ files: parsed once, checked without a Docker engine."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


def interpolate_defaults(value: str) -> str:
    """Compose's ``${VAR:-default}`` / ``${VAR}`` with nothing set: what a bare
    ``docker compose up`` uses."""
    return re.sub(r"\$\{([A-Z_]+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", value)


def dockerfile_stages(path: Path = DEPLOY / "Dockerfile") -> list[list[dict[str, Any]]]:
    """The Dockerfile's instructions (dockerfile-parse's dicts), split into stages."""
    parser = DockerfileParser(path=str(path))
    stages: list[list[dict[str, Any]]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            stages.append([])
        if instruction["instruction"] != "COMMENT" and stages:
            stages[-1].append(instruction)
    return stages


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    """Every Kubernetes object in deploy/k8s, by (kind, name)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = doc
    return found


@pytest.fixture(scope="module")
def final_stage() -> list[dict[str, Any]]:
    return dockerfile_stages()[-1]
