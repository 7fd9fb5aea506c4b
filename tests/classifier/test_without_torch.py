"""The base install has no torch (Detoxify is the ``detoxify`` extra): ``auto`` falls back to
the bundled model and says why; asking for Detoxify says how to install it."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from comments.scoring.classifier import create_classifier, fetch_model
from comments.scoring.classifier.factory import DETOXIFY_MODULES
from comments.scoring.classifier.profanity import ProfanityCheckClassifier


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make torch, transformers and detoxify look uninstalled: a None in sys.modules is
    what find_spec reports as missing and what import refuses."""
    for name in DETOXIFY_MODULES:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.usefixtures("no_torch")
def test_auto_falls_back_naming_the_extra(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="comments.scoring.classifier.factory"):
        classifier = create_classifier("auto")
    assert isinstance(classifier, ProfanityCheckClassifier)
    reason = classifier.fallback_reason or ""
    assert "torch" in reason and "pip install 'comments[detoxify]'" in reason
    assert any(reason in r.getMessage() for r in caplog.records)


@pytest.mark.usefixtures("no_torch")
@pytest.mark.parametrize(
    ("spec", "options"),
    [
        ("detoxify", {}),
        ("detoxify:unbiased", {}),
        ("detoxify", {"backend": "onnx"}),
        ("auto", {"checkpoint": "/models/original.ckpt"}),
    ],
)
def test_detoxify_asked_for_says_how_to_install_it(spec: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"pip install 'comments\[detoxify\]'"):
        create_classifier(spec, **options)


@pytest.mark.usefixtures("no_torch")
def test_fetch_says_how_to_install_it() -> None:
    with pytest.raises(ValueError, match=r"pip install 'comments\[detoxify\]'"):
        fetch_model("original")
