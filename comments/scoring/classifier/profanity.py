"""The bundled alt-profanity-check model: small, CPU-cheap, one label."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from comments.scoring.classifier.base import Classifier, ClassifierLoadError, clamp_score

log = logging.getLogger("comments.classifier")

# Texts the direct path must score as the library does before it is used.
_SELF_CHECK = (
    "thanks for the thoughtful article",
    "you are a fucking idiot",
    "",
    "the the the shit Shit SHIT 123 ümlaut",
)


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
            from profanity_check import profanity_check as package
        except Exception as exc:
            raise ClassifierLoadError(
                f"cannot load alt-profanity-check's bundled model: {exc}"
            ) from exc
        self._predict_prob = package.predict_prob
        try:
            direct = _DirectModel(package.vectorizer, package.model)
            wanted = package.predict_prob(list(_SELF_CHECK))
            got = direct(list(_SELF_CHECK))
            if max(abs(a - b) for a, b in zip(got, wanted, strict=True)) > 1e-9:
                raise ValueError("scores differ from the library's")
        except Exception as exc:
            # A release of the package or of scikit-learn shaped differently: its own
            # predict is slower but right.
            log.warning("profanity-check scored through the library (slower): %s", exc)
        else:
            self._predict_prob = direct
        self.detail = "bundled alt-profanity-check model"

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Score texts; see :meth:`Classifier.score_batch`."""
        if self._predict_prob is None:
            raise RuntimeError("ProfanityCheckClassifier.load() has not run")
        if not texts:
            return []  # the vectorizer rejects an empty batch
        probabilities = self._predict_prob(list(texts))
        return [{"profanity": clamp_score(p)} for p in probabilities]


class _DirectModel:
    """The package's model, computed as scikit-learn computes it, without its per-call
    validation and sparse-matrix building (~20 ms of CPU per call, ~90% of a post's):
    tf-idf of the words (l2-normalised), then each cross-validation fold's linear SVM
    decision value through its sigmoid calibration, averaged over folds.

    Raises (at construction):
        ValueError: the fitted objects are not the shape this assumes.
    """

    def __init__(self, vectorizer: Any, model: Any) -> None:
        params = vectorizer.get_params()
        if (
            params["binary"]
            or params["sublinear_tf"]
            or params["norm"] != "l2"
            or not params["use_idf"]
            or params["analyzer"] != "word"
        ):
            raise ValueError(f"unexpected vectorizer settings: {params}")
        folds = model.calibrated_classifiers_
        if list(model.classes_) != [0, 1] or any(
            f.method != "sigmoid" or len(f.calibrators) != 1 or f.estimator.coef_.shape[0] != 1
            for f in folds
        ):
            raise ValueError("unexpected calibrated model")
        self.analyze: Callable[[str], list[str]] = vectorizer.build_analyzer()
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.idf = [float(x) for x in vectorizer.idf_]
        # Per word index: its weight in every fold (a row of the folds' coefficients).
        coefs = [f.estimator.coef_[0] for f in folds]
        self.weights = [tuple(float(c[j]) for c in coefs) for j in range(len(self.idf))]
        self.intercepts = [float(f.estimator.intercept_[0]) for f in folds]
        self.calibration = [(float(f.calibrators[0].a_), float(f.calibrators[0].b_)) for f in folds]

    def __call__(self, texts: list[str]) -> list[float]:
        return [self.one(text) for text in texts]

    def one(self, text: str) -> float:
        vocabulary = self.vocabulary
        counts = Counter(j for j in map(vocabulary.get, self.analyze(text)) if j is not None)
        tfidf = {j: n * self.idf[j] for j, n in counts.items()}
        norm = math.sqrt(sum(v * v for v in tfidf.values())) or 1.0
        decisions = list(self.intercepts)
        for j, v in tfidf.items():
            x = v / norm
            for k, w in enumerate(self.weights[j]):
                decisions[k] += x * w
        total = 0.0
        for (a, b), d in zip(self.calibration, decisions, strict=True):
            total += _expit(-(a * d + b))
        p = total / len(decisions)
        return 1.0 if 1.0 < p <= 1.0 + 1e-5 else p


def _expit(x: float) -> float:
    # As scipy's expit, without overflow for large |x|.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
