"""The node's classifier: built from settings, loaded at start, asked through one door.

``score`` never raises: ``None`` means "no score" (load failed, error, timeout,
overload), and the policy then holds the comment — moderation fails closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from comments.observability.metrics import Histogram
from comments.scoring.classifier import (
    ClassifierStatus,
    ClassifierUnavailable,
    MicroBatcher,
    create_classifier,
)
from comments.settings import Settings

log = logging.getLogger("comments.scoring")

#: What moderators and operators are told while the bundled model scores comments.
BUNDLED_MODEL_WARNING = (
    "profanity model only: threats and hate without profanity are not detected — "
    "install Detoxify weights with `comments model install`"
)


def limitation_of(classifier_name: str) -> str | None:
    """The warning for a classifier that misses whole kinds of abuse, else None."""
    return BUNDLED_MODEL_WARNING if classifier_name == "profanity-check" else None


def describe(settings: Settings) -> dict[str, str | None]:
    """The classifier these settings give (built, not loaded) and its warning."""
    try:
        classifier = create_classifier(
            settings.classifier,
            checkpoint=settings.detoxify_checkpoint,
            config_dir=settings.detoxify_config_dir,
            torch_threads=settings.torch_threads,
            backend=settings.detoxify_backend,
        )
    except ValueError as exc:
        return {"name": settings.classifier, "warning": f"cannot be used: {exc}"}
    return {"name": classifier.name, "warning": limitation_of(classifier.name)}


class Scorer:
    def __init__(
        self,
        batcher: MicroBatcher | None,
        error: str | None = None,
        *,
        spec: str | None = None,
        latency: Histogram | None = None,
    ) -> None:
        self.batcher = batcher
        self.error = error  # a classifier that could not even be built
        if spec is None:
            spec = batcher.classifier.name if batcher is not None else "?"
        self.spec = spec
        self.latency = latency  # the node's histogram of scoring times
        # A failed load is retried with backoff: weights may arrive (a download that
        # failed, a volume mounted late) without a restart.
        self.retry_after_s = 30.0
        self._next_retry = 0.0

    @classmethod
    def from_settings(cls, settings: Settings, latency: Histogram | None = None) -> Scorer:
        try:
            classifier = create_classifier(
                settings.classifier,
                checkpoint=settings.detoxify_checkpoint,
                config_dir=settings.detoxify_config_dir,
                torch_threads=settings.torch_threads,
                backend=settings.detoxify_backend,
            )
        except ValueError as exc:
            log.error("classifier %r cannot be used: %s", settings.classifier, exc)
            return cls(None, str(exc), spec=settings.classifier, latency=latency)
        return cls(
            MicroBatcher(
                classifier,
                max_batch=settings.classifier_batch_size,
                max_wait_ms=settings.classifier_batch_wait_ms,
                timeout_s=settings.classifier_timeout_s,
            ),
            latency=latency,
        )

    async def load(self) -> None:
        if self.batcher is None:
            return
        status = await self.batcher.load()
        if status.state == "fallback":
            log.warning("classifier: %s (%s)", status.name, status.detail)
        elif status.state == "ok":
            log.info("classifier %s loaded: %s", status.name, status.detail)

    async def retry_load(self) -> bool:
        """Load again if loading failed and the backoff has passed; True once usable."""
        if self.batcher is None or self.batcher.loaded:
            return self.usable
        if self.batcher.loading or time.monotonic() < self._next_retry:
            return False
        log.info("retrying to load classifier %s", self.spec)
        await self.load()
        if not self.usable:
            self._next_retry = time.monotonic() + self.retry_after_s
            self.retry_after_s = min(self.retry_after_s * 2, 900.0)
        return self.usable

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.close()

    def status(self) -> ClassifierStatus:
        if self.batcher is None:
            return ClassifierStatus(self.spec, "failed", self.error or "not configured")
        return self.batcher.status()

    @property
    def warning(self) -> str | None:
        """Set while the classifier misses threats and hate (the bundled model)."""
        if self.batcher is None:
            return None
        return limitation_of(self.batcher.classifier.name)

    def console_status(self) -> dict[str, str | None]:
        """The classifier as the moderator console shows it: status and warning."""
        return {**self.status().to_dict(), "warning": self.warning}

    @property
    def usable(self) -> bool:
        return self.status().state != "failed"

    async def score_all(self, texts: Sequence[str]) -> dict[str, float] | None:
        """Score several readings of one comment; per label, the highest score.

        The texts go through the micro-batcher together (one batch when it has room).
        ``None`` when any of them gets no score: a comment is never judged on part of it.
        """
        if len(texts) == 1:
            return await self.score(texts[0])
        results = await asyncio.gather(*(self.score(text) for text in texts))
        merged: dict[str, float] = {}
        for scores in results:
            if scores is None:
                return None
            for label, value in scores.items():
                merged[label] = max(value, merged.get(label, value))
        return merged

    async def score(self, text: str) -> dict[str, float] | None:
        if self.batcher is None:
            return None
        started = time.perf_counter()
        outcome = "unavailable"
        try:
            scores = dict(await self.batcher.score(text))
            outcome = "ok"
            return scores
        except ClassifierUnavailable as exc:
            log.warning("comment held unscored: %s", exc)
            return None
        finally:
            if self.latency is not None:
                self.latency.observe(time.perf_counter() - started, outcome=outcome)
