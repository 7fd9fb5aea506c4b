"""The bundled alt-profanity-check model: small, CPU-cheap, one label."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from comments.scoring.classifier.base import Classifier, ClassifierLoadError, clamp_score


class ProfanityCheckClassifier(Classifier):
    """alt-profanity-check's linear model (ships inside the package, no download).

    Args:
        fallback_reason: set when this model stands in for Detoxify (``auto``).
    """

    name = "profanity-check"
    labels = ("profanity",)

    def __init__(self, *, fallback_reason: str | None = None) -> None:
        self.fallback_reason = fallback_reason
        self._predict_prob: Callable[[list[str]], Any] | None = None

    def load(self) -> None:
        """Import the package, which unpickles its vectorizer and model.

        Raises:
            ClassifierLoadError: the package is missing or its model does not unpickle.
        """
        try:
            # Imported here: the import itself loads the model (joblib), which is load's job.
            from profanity_check import predict_prob
        except Exception as exc:
            raise ClassifierLoadError(
                f"cannot load alt-profanity-check's bundled model: {exc}"
            ) from exc
        self._predict_prob = predict_prob
        self.detail = "bundled alt-profanity-check model"

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Score texts; see :meth:`Classifier.score_batch`."""
        if self._predict_prob is None:
            raise RuntimeError("ProfanityCheckClassifier.load() has not run")
        if not texts:
            return []  # the vectorizer rejects an empty batch
        probabilities = self._predict_prob(list(texts))
        return [{"profanity": clamp_score(p)} for p in probabilities]
