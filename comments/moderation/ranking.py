"""The risk stored with a comment when it is scored: the moderation queue's order."""

from __future__ import annotations

from collections.abc import Mapping

from comments.moderation import policy
from comments.store.tables import UNSCORED_RISK

# Real risks stay below the unscored sentinel, whatever tiny threshold a site sets.
RISK_CAP = UNSCORED_RISK / 10


def stored_risk(scores: Mapping[str, float] | None, thresholds: Mapping[str, float]) -> float:
    """``policy.risk``, or UNSCORED_RISK (first in the queue) when there are no scores."""
    value = policy.risk(scores or None, thresholds)
    return UNSCORED_RISK if value is None else min(value, RISK_CAP)
