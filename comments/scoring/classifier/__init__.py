"""Toxicity classifiers behind one small interface, with asyncio micro-batching.

Importing this package is cheap: torch, detoxify and alt-profanity-check are imported
only when a classifier that needs them is created.

Typical use::

    classifier = create_classifier(settings.classifier, checkpoint=..., config_dir=...,
                                   torch_threads=...)
    batcher = MicroBatcher(classifier, max_batch=16, max_wait_ms=5, timeout_s=5)
    await batcher.load()           # status "failed" (not raised) when loading fails
    scores = await batcher.score(body)   # raises ClassifierUnavailable: hold the comment
"""

from comments.scoring.classifier.base import (
    Classifier,
    ClassifierLoadError,
    ClassifierOptions,
    ClassifierState,
    ClassifierStatus,
    ClassifierUnavailable,
)
from comments.scoring.classifier.batching import MicroBatcher
from comments.scoring.classifier.factory import (
    CLASSIFIERS,
    DETOXIFY_MODELS,
    create_classifier,
    fetch_model,
    valid_specs,
)

__all__ = [
    "CLASSIFIERS",
    "DETOXIFY_MODELS",
    "Classifier",
    "ClassifierLoadError",
    "ClassifierOptions",
    "ClassifierState",
    "ClassifierStatus",
    "ClassifierUnavailable",
    "MicroBatcher",
    "create_classifier",
    "fetch_model",
    "valid_specs",
]
