"""Detoxify on ONNX Runtime: torch's scores, an export made once per checkpoint, strict loading."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from comments.scoring.classifier import ClassifierLoadError, MicroBatcher, create_classifier
from comments.scoring.classifier.detoxify_model import DetoxifyClassifier
from comments.scoring.classifier.onnx_model import (
    OnnxDetoxifyClassifier,
    OnnxInt8DetoxifyClassifier,
)
from comments.scoring.classifier.profanity import ProfanityCheckClassifier
from comments.scoring.classifier.testing import TinyDetoxify, build_tiny_detoxify
from comments.scoring.scorer import Scorer
from comments.settings import Settings, SettingsError
from tests.classifier.test_classifiers import MIXED, assert_valid


def copy_checkpoint(tiny: TinyDetoxify, folder: Path) -> Path:
    """The tiny checkpoint in a folder of the test's own, so exports land there."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(tiny.checkpoint, folder / "model.ckpt"))


def load_onnx(checkpoint: Path, tiny: TinyDetoxify, **kwargs: Any) -> OnnxDetoxifyClassifier:
    classifier = OnnxDetoxifyClassifier(checkpoint=checkpoint, config_dir=tiny.config_dir, **kwargs)
    classifier.load()
    return classifier


def max_difference(a: list[dict[str, float]], b: list[dict[str, float]]) -> float:
    return max(abs(x[label] - y[label]) for x, y in zip(a, b, strict=True) for label in x)


def test_scores_match_torch_detoxify(
    onnx_classifier: OnnxDetoxifyClassifier, detoxify_classifier: DetoxifyClassifier
) -> None:
    assert onnx_classifier.labels == detoxify_classifier.labels
    assert onnx_classifier.name == "detoxify:original"
    ours = onnx_classifier.score_batch(MIXED)
    assert_valid(onnx_classifier, ours, len(MIXED))
    expected = detoxify_classifier.score_batch(MIXED)
    for got, want, text in zip(ours, expected, MIXED, strict=True):
        assert got == pytest.approx(want, abs=1e-4), text
    # Texts of very different lengths in one call: padding must not move any score.
    mixed_lengths = ["hi", "I read it twice. " * 40, "ok", *MIXED]
    assert (
        max_difference(
            onnx_classifier.score_batch(mixed_lengths),
            detoxify_classifier.score_batch(mixed_lengths),
        )
        < 1e-4
    )


def test_export_is_made_once_per_checkpoint(tiny_detoxify: TinyDetoxify, tmp_path: Path) -> None:
    checkpoint = copy_checkpoint(tiny_detoxify, tmp_path / "models")
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    first = load_onnx(checkpoint, tiny_detoxify)
    assert first.exported
    assert first.onnx_path == checkpoint.parent / f"model.{digest[:16]}.onnx"
    assert digest[:16] in first.detail and "onnx" in first.detail
    written = first.onnx_path.stat().st_mtime_ns

    second = load_onnx(checkpoint, tiny_detoxify)
    assert not second.exported
    assert second.onnx_path == first.onnx_path
    assert first.onnx_path.stat().st_mtime_ns == written
    assert second.score_batch(MIXED) == first.score_batch(MIXED)


def test_replaced_checkpoint_is_exported_anew(tiny_detoxify: TinyDetoxify, tmp_path: Path) -> None:
    checkpoint = copy_checkpoint(tiny_detoxify, tmp_path / "models")
    old = load_onnx(checkpoint, tiny_detoxify)
    # New weights under the same file name: the old export must not be used for them.
    retrained = build_tiny_detoxify(tmp_path / "retrained", seed=1)
    shutil.copy2(retrained.checkpoint, checkpoint)
    new = load_onnx(checkpoint, tiny_detoxify)
    assert new.exported
    assert new.onnx_path != old.onnx_path
    torch_scores = DetoxifyClassifier(checkpoint=checkpoint, config_dir=tiny_detoxify.config_dir)
    torch_scores.load()
    assert max_difference(new.score_batch(MIXED), torch_scores.score_batch(MIXED)) < 1e-4
    assert max_difference(new.score_batch(MIXED), old.score_batch(MIXED)) > 1e-3


@pytest.mark.parametrize("damage", ["truncated", "other-weights"])
def test_damaged_cached_export_is_replaced(
    damage: str, tiny_detoxify: TinyDetoxify, tmp_path: Path
) -> None:
    checkpoint = copy_checkpoint(tiny_detoxify, tmp_path / "models")
    exported = load_onnx(checkpoint, tiny_detoxify).onnx_path
    assert exported is not None
    if damage == "truncated":
        exported.write_bytes(exported.read_bytes()[:1000])
    else:  # a valid model, but of other weights: it runs, and must not be used
        other = build_tiny_detoxify(tmp_path / "other", seed=2)
        other_export = load_onnx(other.checkpoint, tiny_detoxify).onnx_path
        assert other_export is not None
        shutil.copy2(other_export, exported)
    classifier = load_onnx(checkpoint, tiny_detoxify)
    assert classifier.exported
    assert classifier.probe_delta is not None and classifier.probe_delta < 1e-4
    torch_scores = DetoxifyClassifier(checkpoint=checkpoint, config_dir=tiny_detoxify.config_dir)
    torch_scores.load()
    assert max_difference(classifier.score_batch(MIXED), torch_scores.score_batch(MIXED)) < 1e-4


def test_checkpoint_that_does_not_fit_fails_to_load(
    tiny_detoxify: TinyDetoxify, tmp_path: Path
) -> None:
    loaded = torch.load(tiny_detoxify.checkpoint, map_location="cpu", weights_only=False)
    del loaded["state_dict"]["classifier.weight"]
    folder = tmp_path / "models"
    folder.mkdir()
    torch.save(loaded, folder / "broken.ckpt")
    classifier = OnnxDetoxifyClassifier(
        checkpoint=folder / "broken.ckpt", config_dir=tiny_detoxify.config_dir
    )
    with pytest.raises(ClassifierLoadError, match="does not match"):
        classifier.load()
    assert not list(folder.glob("*.onnx")), "nothing is exported from a rejected checkpoint"
    with pytest.raises(RuntimeError, match="load"):
        classifier.score_batch(["x"])


def test_int8_loads_and_scores_in_unit_interval(
    tiny_detoxify: TinyDetoxify, detoxify_classifier: DetoxifyClassifier, tmp_path: Path
) -> None:
    checkpoint = copy_checkpoint(tiny_detoxify, tmp_path / "models")
    classifier = OnnxInt8DetoxifyClassifier(
        checkpoint=checkpoint, config_dir=tiny_detoxify.config_dir
    )
    classifier.load()
    assert classifier.backend == "onnx-int8" and "onnx-int8" in classifier.detail
    assert classifier.onnx_path is not None and classifier.onnx_path.name.endswith(".int8.onnx")
    scores = classifier.score_batch(MIXED)
    assert_valid(classifier, scores, len(MIXED))
    # Quantised weights move scores a little, not to other texts' scores.
    assert max_difference(scores, detoxify_classifier.score_batch(MIXED)) < 0.15
    again = OnnxInt8DetoxifyClassifier(checkpoint=checkpoint, config_dir=tiny_detoxify.config_dir)
    again.load()
    assert not again.exported


def test_inference_threads_follow_torch_threads(tiny_detoxify: TinyDetoxify) -> None:
    before = torch.get_num_threads()
    try:
        classifier = load_onnx(tiny_detoxify.checkpoint, tiny_detoxify, torch_threads=2)
        assert classifier.session.get_session_options().intra_op_num_threads == 2
    finally:
        torch.set_num_threads(before)


def test_export_goes_to_a_chosen_cache_dir(tiny_detoxify: TinyDetoxify, tmp_path: Path) -> None:
    classifier = load_onnx(tiny_detoxify.checkpoint, tiny_detoxify, cache_dir=tmp_path / "cache")
    assert classifier.onnx_path is not None
    assert classifier.onnx_path.parent == tmp_path / "cache"


@pytest.mark.parametrize(
    ("spec", "backend", "expected"),
    [
        ("detoxify", "onnx", OnnxDetoxifyClassifier),
        ("detoxify:original", "onnx-int8", OnnxInt8DetoxifyClassifier),
        ("detoxify", "torch", DetoxifyClassifier),
        ("auto", "onnx", OnnxDetoxifyClassifier),  # a configured checkpoint: Detoxify
        ("profanity-check", "onnx", ProfanityCheckClassifier),  # not a Detoxify model
    ],
    ids=["onnx", "onnx-int8", "torch", "auto-onnx", "profanity-ignores-backend"],
)
def test_factory_backend(spec: str, backend: str, expected: type) -> None:
    classifier = create_classifier(spec, checkpoint="/x.ckpt", config_dir="/cfg", backend=backend)
    assert type(classifier) is expected


def test_unknown_backend_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="torch, onnx, onnx-int8"):
        create_classifier("detoxify", backend="tensorrt")


def test_backend_setting() -> None:
    assert Settings.from_env({}).detoxify_backend == "torch"
    env = {"COMMENTS_DETOXIFY_BACKEND": "onnx-int8"}
    assert Settings.from_env(env).detoxify_backend == "onnx-int8"
    with pytest.raises(SettingsError, match="COMMENTS_DETOXIFY_BACKEND"):
        Settings.from_env({"COMMENTS_DETOXIFY_BACKEND": "gpu"})


async def test_node_scores_through_the_onnx_backend(
    tiny_detoxify: TinyDetoxify, detoxify_classifier: DetoxifyClassifier, tmp_path: Path
) -> None:
    checkpoint = copy_checkpoint(tiny_detoxify, tmp_path / "models")
    settings = Settings.from_env(
        {
            "COMMENTS_CLASSIFIER": "detoxify",
            "COMMENTS_DETOXIFY_CHECKPOINT": str(checkpoint),
            "COMMENTS_DETOXIFY_CONFIG_DIR": str(tiny_detoxify.config_dir),
            "COMMENTS_DETOXIFY_BACKEND": "onnx",
        }
    )
    scorer = Scorer.from_settings(settings)
    try:
        await scorer.load()
        status = scorer.status()
        assert (status.name, status.state) == ("detoxify:original", "ok")
        assert "onnx" in status.detail
        assert isinstance(scorer.batcher, MicroBatcher)
        text = "you are a fucking idiot"
        scores = await scorer.score(text)
        assert scores == pytest.approx(detoxify_classifier.score_batch([text])[0], abs=1e-4)
    finally:
        await scorer.close()
