"""Choosing a classifier from its config string."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from comments.scoring.classifier import MicroBatcher, create_classifier, valid_specs
from comments.scoring.classifier.detoxify_model import DetoxifyClassifier, detoxify_cache_path
from comments.scoring.classifier.profanity import ProfanityCheckClassifier
from comments.scoring.classifier.testing import TinyDetoxify


@pytest.mark.parametrize("spec", ["nope", "detoxify:huge", "auto:original", "profanity-check:x"])
def test_unknown_spec_lists_valid_names(spec: str) -> None:
    with pytest.raises(ValueError) as info:
        create_classifier(spec)
    if spec in ("nope", "detoxify:huge"):
        for name in ("auto", "detoxify:original-small", "profanity-check"):
            assert name in str(info.value)


def test_valid_specs() -> None:
    assert valid_specs() == [
        "auto",
        "detoxify",
        "detoxify:original",
        "detoxify:original-small",
        "detoxify:unbiased",
        "detoxify:unbiased-small",
        "detoxify:multilingual",
        "profanity-check",
    ]


def test_torch_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="torch_threads"):
        create_classifier("profanity-check", torch_threads=0)


def test_explicit_specs() -> None:
    profanity = create_classifier("profanity-check")
    assert isinstance(profanity, ProfanityCheckClassifier)
    assert profanity.fallback_reason is None
    plain = create_classifier("detoxify", checkpoint="/x.ckpt", config_dir="/cfg", torch_threads=3)
    assert isinstance(plain, DetoxifyClassifier)
    assert (plain.name, plain.model_name, plain.torch_threads) == (
        "detoxify:original",
        "original",
        3,
    )
    assert plain.checkpoint == Path("/x.ckpt") and plain.config_dir == Path("/cfg")
    assert plain.allow_download  # asked for by name: fetch it
    small = create_classifier("detoxify:unbiased-small", allow_download=False)
    assert isinstance(small, DetoxifyClassifier)
    assert small.model_name == "unbiased-small" and not small.allow_download


async def test_auto_uses_a_configured_checkpoint(tiny_detoxify: TinyDetoxify) -> None:
    classifier = create_classifier(
        "auto",
        checkpoint=str(tiny_detoxify.checkpoint),
        config_dir=str(tiny_detoxify.config_dir),
    )
    assert isinstance(classifier, DetoxifyClassifier)
    assert not classifier.allow_download
    batcher = MicroBatcher(classifier)
    try:
        status = await batcher.load()
        assert (status.name, status.state) == ("detoxify:original", "ok")
        assert set(await batcher.score("hello world")) == set(tiny_detoxify.labels)
    finally:
        await batcher.close()


async def test_auto_uses_the_cached_download(
    empty_torch_home: Path, tiny_detoxify: TinyDetoxify
) -> None:
    cached = detoxify_cache_path("original")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(tiny_detoxify.checkpoint.read_bytes())
    classifier = create_classifier("auto", config_dir=str(tiny_detoxify.config_dir))
    assert isinstance(classifier, DetoxifyClassifier)
    batcher = MicroBatcher(classifier)
    try:
        assert (await batcher.load()).state == "ok"
    finally:
        await batcher.close()


async def test_auto_falls_back_without_weights(
    empty_torch_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="comments.scoring.classifier.factory"):
        classifier = create_classifier("auto")
    assert isinstance(classifier, ProfanityCheckClassifier)
    assert any(
        r.levelno == logging.WARNING and "no Detoxify weights" in r.getMessage()
        for r in caplog.records
    )
    batcher = MicroBatcher(classifier)
    try:
        status = await batcher.load()
        assert (status.name, status.state) == ("profanity-check", "fallback")
        assert "no Detoxify weights on disk" in status.detail
        assert str(empty_torch_home) in status.detail
        assert status.to_dict() == {
            "name": "profanity-check",
            "state": "fallback",
            "detail": status.detail,
        }
        assert set(await batcher.score("thanks")) == {"profanity"}
    finally:
        await batcher.close()


def test_auto_hub_dir_argument(tmp_path: Path) -> None:
    classifier = create_classifier("auto", hub_dir=str(tmp_path))
    assert isinstance(classifier, ProfanityCheckClassifier)
    assert str(tmp_path / "checkpoints") in (classifier.fallback_reason or "")
