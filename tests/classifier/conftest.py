"""Classifier fixtures: a tiny Detoxify checkpoint built on the spot, and no network.

Every test here runs with Hugging Face offline mode on and every non-loopback
connection or DNS lookup failing (and recorded: a test that tried fails even when the
library swallowed the error).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest

from comments.scoring.classifier.base import Classifier
from comments.scoring.classifier.detoxify_model import DetoxifyClassifier
from comments.scoring.classifier.onnx_model import OnnxDetoxifyClassifier
from comments.scoring.classifier.profanity import ProfanityCheckClassifier
from comments.scoring.classifier.testing import TinyDetoxify, build_tiny_detoxify, forbid_network


@contextlib.contextmanager
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """HF offline mode plus the socket guard; yields the list of blocked attempts."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    # huggingface_hub reads the variable once, at import.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with forbid_network() as attempts:
        yield attempts


@pytest.fixture(autouse=True)
def network_attempts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Blocked network attempts of this test; must stay empty unless the test clears it."""
    with offline(monkeypatch) as attempts:
        yield attempts
    assert attempts == [], f"test tried to reach the network: {attempts}"


@pytest.fixture(scope="session")
def tiny_detoxify(tmp_path_factory: pytest.TempPathFactory) -> TinyDetoxify:
    """A 2-layer BERT in Detoxify's checkpoint format plus its HF config folder."""
    # The guard is lifted again before the session goes on: it is process-wide.
    with pytest.MonkeyPatch.context() as mp, offline(mp) as attempts:
        tiny = build_tiny_detoxify(tmp_path_factory.mktemp("tiny-detoxify"))
    assert attempts == []
    return tiny


@pytest.fixture(scope="session")
def detoxify_classifier(tiny_detoxify: TinyDetoxify) -> DetoxifyClassifier:
    """The tiny checkpoint, loaded through the real Detoxify code, offline."""
    classifier = DetoxifyClassifier(
        checkpoint=tiny_detoxify.checkpoint, config_dir=tiny_detoxify.config_dir
    )
    with pytest.MonkeyPatch.context() as mp, offline(mp) as attempts:
        classifier.load()
    assert attempts == []
    return classifier


@pytest.fixture(scope="session")
def onnx_classifier(tiny_detoxify: TinyDetoxify) -> OnnxDetoxifyClassifier:
    """The tiny checkpoint on ONNX Runtime (exported beside it on first load), offline."""
    classifier = OnnxDetoxifyClassifier(
        checkpoint=tiny_detoxify.checkpoint, config_dir=tiny_detoxify.config_dir
    )
    with pytest.MonkeyPatch.context() as mp, offline(mp) as attempts:
        classifier.load()
    assert attempts == []
    return classifier


@pytest.fixture(scope="session")
def profanity_classifier() -> ProfanityCheckClassifier:
    classifier = ProfanityCheckClassifier()
    classifier.load()
    return classifier


@pytest.fixture(params=["detoxify", "detoxify-onnx", "profanity-check"])
def loaded_classifier(request: pytest.FixtureRequest) -> Classifier:
    """Each implementation in turn, loaded (shared across the session)."""
    name = {
        "detoxify": "detoxify_classifier",
        "detoxify-onnx": "onnx_classifier",
        "profanity-check": "profanity_classifier",
    }[request.param]
    classifier: Classifier = request.getfixturevalue(name)
    return classifier


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point torch hub's cache (where Detoxify downloads go) at an empty folder."""
    import torch.hub

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # in case something called set_dir
    hub = Path(torch.hub.get_dir())
    assert hub.is_relative_to(tmp_path)
    return hub


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event that blocked classifier threads wait on; always set at teardown so no
    worker thread outlives the test."""
    event = threading.Event()
    yield event
    event.set()
