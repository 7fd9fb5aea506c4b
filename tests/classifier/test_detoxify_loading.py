"""Loading Detoxify checkpoints: offline, strictly, with clear errors."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import detoxify.detoxify
import pytest
import torch

from comments.scoring.classifier import DETOXIFY_MODELS, ClassifierLoadError, fetch_model
from comments.scoring.classifier.detoxify_model import DetoxifyClassifier, detoxify_cache_path
from comments.scoring.classifier.testing import TinyDetoxify

TEXTS = ["you are a fucking idiot", "thanks for the thoughtful article", "hi"]

Rewrite = Callable[[dict[str, Any]], None]


@pytest.fixture
def variant(tiny_detoxify: TinyDetoxify, tmp_path: Path) -> Callable[[Rewrite], Path]:
    """Write a modified copy of the tiny checkpoint; returns its path."""

    def make(rewrite: Rewrite) -> Path:
        loaded = torch.load(tiny_detoxify.checkpoint, map_location="cpu", weights_only=False)
        rewrite(loaded)
        path = tmp_path / "variant.ckpt"
        torch.save(loaded, path)
        return path

    return make


def load(path: Path, tiny: TinyDetoxify, **kwargs: Any) -> DetoxifyClassifier:
    classifier = DetoxifyClassifier(checkpoint=path, config_dir=tiny.config_dir, **kwargs)
    classifier.load()
    return classifier


def test_model_names_match_detoxify() -> None:
    assert set(DETOXIFY_MODELS) == set(detoxify.detoxify.MODEL_URLS)


def test_loads_offline_through_detoxify_and_logs_sha256(
    tiny_detoxify: TinyDetoxify,
    detoxify_classifier: DetoxifyClassifier,
    caplog: pytest.LogCaptureFixture,
) -> None:
    digest = hashlib.sha256(tiny_detoxify.checkpoint.read_bytes()).hexdigest()
    with caplog.at_level(logging.INFO, logger="comments.scoring.classifier.detoxify_model"):
        fresh = load(tiny_detoxify.checkpoint, tiny_detoxify)
    assert any(digest in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)
    assert digest[:16] in fresh.detail
    # Same weights, same scores as the session's instance: nothing was initialised anew.
    for a, b in zip(fresh.score_batch(TEXTS), detoxify_classifier.score_batch(TEXTS), strict=True):
        assert a == pytest.approx(b, abs=1e-6)


def test_scores_equal_plain_detoxify_predict(
    tiny_detoxify: TinyDetoxify, detoxify_classifier: DetoxifyClassifier
) -> None:
    # Detoxify's own constructor, given a local model_type, must agree with ours.
    loaded = torch.load(tiny_detoxify.checkpoint, map_location="cpu", weights_only=False)
    loaded["config"]["arch"]["args"]["model_type"] = str(tiny_detoxify.config_dir)
    local = tiny_detoxify.checkpoint.parent / "local-model-type.ckpt"
    torch.save(loaded, local)
    reference = detoxify.detoxify.Detoxify(checkpoint=str(local))
    reference.tokenizer.model_max_length = 64
    expected = reference.predict(TEXTS)
    ours = detoxify_classifier.score_batch(TEXTS)
    for label, column in expected.items():
        assert [s[label] for s in ours] == pytest.approx(column, abs=1e-5)


def test_sets_torch_threads(tiny_detoxify: TinyDetoxify) -> None:
    before = torch.get_num_threads()
    try:
        load(tiny_detoxify.checkpoint, tiny_detoxify, torch_threads=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("name", "rewrite"),
    [
        # Transformers accepts these forms too; they are the same weights.
        (
            "no base-model prefix",
            lambda c: c.update(
                state_dict={k.removeprefix("bert."): v for k, v in c["state_dict"].items()}
            ),
        ),
        (
            "saved position_ids buffer",
            lambda c: c["state_dict"].update(
                {"bert.embeddings.position_ids": torch.arange(64).unsqueeze(0)}
            ),
        ),
    ],
)
def test_accepts_equivalent_weight_names(
    name: str,
    rewrite: Rewrite,
    variant: Callable[[Rewrite], Path],
    tiny_detoxify: TinyDetoxify,
    detoxify_classifier: DetoxifyClassifier,
) -> None:
    classifier = load(variant(rewrite), tiny_detoxify)
    for a, b in zip(
        classifier.score_batch(TEXTS), detoxify_classifier.score_batch(TEXTS), strict=True
    ):
        assert a == pytest.approx(b, abs=1e-6), name


@pytest.mark.parametrize(
    ("rewrite", "message"),
    [
        (  # a Lightning-style prefix: transformers would silently use random weights
            lambda c: c.update(state_dict={f"model.{k}": v for k, v in c["state_dict"].items()}),
            "does not match",
        ),
        (
            lambda c: c["state_dict"].pop("classifier.weight"),
            r"1 model weights missing \(e.g. \['classifier.weight'\]\)",
        ),
        (
            lambda c: c["state_dict"].update({"bert.extra.weight": torch.zeros(2)}),
            r"1 unexpected \(e.g. \['bert.extra.weight'\]\)",
        ),
        (  # head for 3 classes, config says 6
            lambda c: c["state_dict"].update(
                {"classifier.weight": torch.zeros(3, 32), "classifier.bias": torch.zeros(3)}
            ),
            "could not build",
        ),
        (
            lambda c: c["config"]["dataset"]["args"].update(classes=["toxic"]),
            "num_classes=6 but dataset.args.classes has 1",
        ),
        (lambda c: c["config"].pop("arch"), "lacks arch.args"),
        (
            lambda c: c["config"]["arch"]["args"].update(model_name="BertModel"),
            "not a transformers",
        ),
    ],
    ids=[
        "prefixed-names",
        "missing-weight",
        "unexpected-weight",
        "wrong-shape",
        "class-count",
        "no-arch",
        "not-a-classifier",
    ],
)
def test_rejects_checkpoints_that_do_not_fit(
    rewrite: Rewrite,
    message: str,
    variant: Callable[[Rewrite], Path],
    tiny_detoxify: TinyDetoxify,
) -> None:
    with pytest.raises(ClassifierLoadError, match=message):
        load(variant(rewrite), tiny_detoxify)


def test_missing_checkpoint_file(tiny_detoxify: TinyDetoxify, tmp_path: Path) -> None:
    missing = tmp_path / "nope.ckpt"
    with pytest.raises(ClassifierLoadError, match=f"{missing} does not exist"):
        load(missing, tiny_detoxify)


def test_unreadable_and_foreign_files(tiny_detoxify: TinyDetoxify, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ClassifierLoadError, match="cannot read Detoxify checkpoint"):
        load(garbage, tiny_detoxify)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    with pytest.raises(ClassifierLoadError, match="not a Detoxify checkpoint"):
        load(foreign, tiny_detoxify)


def test_config_dir_without_config(tiny_detoxify: TinyDetoxify, tmp_path: Path) -> None:
    classifier = DetoxifyClassifier(checkpoint=tiny_detoxify.checkpoint, config_dir=tmp_path)
    with pytest.raises(ClassifierLoadError, match=r"has no config\.json"):
        classifier.load()


def test_without_config_dir_offline_says_what_to_set(tiny_detoxify: TinyDetoxify) -> None:
    # model_type is the hub name bert-base-uncased, which is not cached here.
    classifier = DetoxifyClassifier(checkpoint=tiny_detoxify.checkpoint)
    with pytest.raises(ClassifierLoadError, match="config dir"):
        classifier.load()


def test_no_cached_weights_and_no_download(empty_torch_home: Path) -> None:
    classifier = DetoxifyClassifier("unbiased-small")
    with pytest.raises(ClassifierLoadError, match="comments model fetch unbiased-small"):
        classifier.load()


def test_uses_the_torch_hub_cache(empty_torch_home: Path, tiny_detoxify: TinyDetoxify) -> None:
    cached = detoxify_cache_path("original")
    assert cached.parent == empty_torch_home / "checkpoints"
    assert cached.name == Path(detoxify.detoxify.MODEL_URLS["original"]).name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(tiny_detoxify.checkpoint.read_bytes())
    classifier = DetoxifyClassifier(config_dir=tiny_detoxify.config_dir)
    classifier.load()
    assert str(cached) in classifier.detail


def test_fetch_model_offline_fails_clearly(
    empty_torch_home: Path, network_attempts: list[str]
) -> None:
    with pytest.raises(ClassifierLoadError, match="Is this host offline"):
        fetch_model("original-small")
    assert network_attempts, "the download should have been attempted"
    network_attempts.clear()  # expected here: the guard turned it into the error above
    assert not any((empty_torch_home / "checkpoints").glob("*")), "no partial file left"


def test_fetch_model_rejects_unknown_model() -> None:
    with pytest.raises(ValueError, match="original-small"):
        fetch_model("huge")


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="unknown Detoxify model"):
        DetoxifyClassifier("huge")
    with pytest.raises(ValueError, match="torch_threads"):
        DetoxifyClassifier(torch_threads=0)
