"""The end-to-end floor: what one comment costs with nothing else going on.

``e2e_p99_over_floor`` (the fan-out section) divides the end-to-end node's post-to-receipt
p99 by the sum of two figures measured in the same run:

- one comment scored alone by the same backend, same model, same threads
  (:func:`lone_scoring_ms`: a process of its own, with the end-to-end node's settings,
  run while the node is idle);
- a bare ``websockets.broadcast()`` of one message to the same sockets (the bare
  websockets baseline holding them): the p99 over those sockets of its publish-to-receipt
  latency, the median over a few messages (:func:`FLOOR_MESSAGES`).

Run as ``python -m comments.bench.floor`` it prints ``{"scoring_ms": m}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time

#: Lone comments scored, and messages broadcast, for the floor's medians.
FLOOR_SCORES = 7
FLOOR_MESSAGES = 5
_BODY = (
    "The second chart contradicts the minister's own figures, and nobody at the briefing "
    "asked about it."
)


async def lone_scoring_ms(env: dict[str, str], timeout: float = 600.0) -> float:
    """The median time to score one comment alone, in a process with ``env``'s settings."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "comments.bench.floor",
        env={**os.environ, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"scoring alone failed: {err.decode(errors='replace')[-2000:]}")
    return float(json.loads(out.decode().strip().splitlines()[-1])["scoring_ms"])


async def _main() -> None:
    from comments.scoring.scorer import Scorer
    from comments.settings import Settings

    scorer = Scorer.from_settings(Settings.from_env())
    await scorer.load()
    if not scorer.usable:
        raise SystemExit(f"the classifier did not load: {scorer.warning}")
    try:
        for _ in range(2):  # warm-up: the first calls allocate
            await scorer.score_all([_BODY])
        took = []
        for _ in range(FLOOR_SCORES):
            started = time.perf_counter()
            if await scorer.score_all([_BODY]) is None:
                raise SystemExit("the classifier gave no score")
            took.append((time.perf_counter() - started) * 1000)
    finally:
        await scorer.close()
    print(json.dumps({"scoring_ms": statistics.median(took)}))


if __name__ == "__main__":
    asyncio.run(_main())
