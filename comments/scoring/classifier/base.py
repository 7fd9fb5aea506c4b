"""The classifier interface: a batch of texts in, per-label scores in 0..1 out."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Self

ClassifierState = Literal["ok", "fallback", "failed"]


class ClassifierLoadError(RuntimeError):
    """A classifier could not be loaded; the message says what to fix."""


class ClassifierUnavailable(RuntimeError):
    """No score can be given right now (failed load, error, timeout, overload, shutdown).

    The server holds the comment when it sees this: moderation fails closed.
    """


@dataclass(frozen=True, slots=True)
class ClassifierStatus:
    """What ``/readyz`` reports about the classifier."""

    name: str
    state: ClassifierState
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        """Return the JSON form ``{"name": …, "state": …, "detail": …}``."""
        return {"name": self.name, "state": self.state, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class ClassifierOptions:
    """Settings a classifier may use; passed in, never read from the environment.

    Attributes:
        checkpoint: Detoxify ``.ckpt`` path (air-gapped hosts).
        config_dir: Hugging Face config + tokenizer folder for that checkpoint.
        torch_threads: torch intra-op threads for inference.
        allow_download: may missing weights be downloaded? ``None``: the
            implementation's default.
        hub_dir: torch hub directory; ``None``: torch's default.
    """

    checkpoint: str | None = None
    config_dir: str | None = None
    torch_threads: int = 1
    allow_download: bool | None = None
    hub_dir: str | None = None


class Classifier(ABC):
    """Scores texts for abuse; one instance serves one process.

    Both methods block (they do I/O or CPU-bound work): call them from a worker thread,
    as :class:`comments.scoring.classifier.batching.MicroBatcher` does, never on the event loop.
    Instances are not thread-safe; use them from one thread at a time.
    """

    #: Spec-style name, e.g. ``"detoxify:original"`` or ``"profanity-check"``.
    name: str = ""
    #: Labels every score dict carries. May be empty until :meth:`load` has run
    #: (Detoxify reads them from the checkpoint).
    labels: tuple[str, ...] = ()
    #: Set when this classifier stands in for a better one that could not be used;
    #: the status then reports state ``"fallback"`` with this text as detail.
    fallback_reason: str | None = None
    #: Human-readable description of what was loaded (path, checksum); status detail.
    detail: str = ""

    @classmethod
    def from_options(cls, variant: str | None, options: ClassifierOptions) -> Self:
        """Build an unloaded instance for a spec ``NAME[:VARIANT]`` (used by the factory).

        Args:
            variant: the part of the spec after ``:``, or ``None``.
            options: settings; implementations use the ones that apply to them.

        Raises:
            ValueError: the variant is not valid for this implementation.
        """
        if variant:
            raise ValueError(f"{cls.name} takes no variant, got {variant!r}")
        return cls()

    @abstractmethod
    def load(self) -> None:
        """Load the model so that :meth:`score_batch` can run.

        Raises:
            ClassifierLoadError: the model cannot be loaded; the message says why and,
                where possible, what to change.
        """

    @abstractmethod
    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Score a batch of texts.

        Args:
            texts: the texts, in any order; may be empty.

        Returns:
            One dict per text, in input order, mapping every label in :attr:`labels`
            to a float in 0..1 (higher means more abusive). ``[]`` for no texts.

        Raises:
            RuntimeError: called before :meth:`load`, or the model failed on this batch.
        """


def clamp_score(value: float) -> float:
    """Return *value* as a float in 0..1; a NaN or infinity is an error, not a score.

    Raises:
        ValueError: the value is not finite.
    """
    score = float(value)
    if not math.isfinite(score):
        raise ValueError(f"classifier produced a non-finite score: {score!r}")
    return min(1.0, max(0.0, score))
