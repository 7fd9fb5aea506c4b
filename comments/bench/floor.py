"""The end-to-end floor: what one comment costs with nothing else going on.

``e2e_p99_over_floor`` (the fan-out section) divides the end-to-end node's post-to-receipt
p99 by the sum of two figures measured in the same run:

- one comment scored alone by the same backend, same model, same threads
  (:func:`lone_scoring_ms`: a process of its own, with the end-to-end node's settings,
  run while the node is idle), on comments shaped like the ones the bench posts (the
  same words and timing marker, so the same token count);
- a bare ``websockets.broadcast()`` of one message to the same sockets (the bare
  websockets baseline holding them): the p99 over those sockets of its publish-to-receipt
  latency, the median over a few messages (:func:`FLOOR_MESSAGES`).

Run as ``python -m comments.bench.floor`` it reads a JSON list of texts on stdin, scores
each alone (after a warm-up) and prints ``{"scoring_ms": m}``, the median.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence

#: Messages broadcast for the floor's median.
FLOOR_MESSAGES = 5
_WARMUP = 2


async def lone_scoring_ms(
    env: dict[str, str], texts: Sequence[str], timeout: float = 600.0
) -> float:
    """The median time to score each of *texts* alone, in a process with ``env``'s
    settings (the first two score once more before, unmeasured: first calls allocate)."""
    if not texts:
        raise ValueError("no texts to score")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "comments.bench.floor",
        env={**os.environ, **env},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(json.dumps(list(texts)).encode()), timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"scoring alone failed: {err.decode(errors='replace')[-2000:]}")
    return float(json.loads(out.decode().strip().splitlines()[-1])["scoring_ms"])


async def _main() -> None:
    from comments.scoring.scorer import Scorer
    from comments.settings import Settings

    texts = [str(text) for text in json.loads(sys.stdin.read())]
    scorer = Scorer.from_settings(Settings.from_env())
    await scorer.load()
    if not scorer.usable:
        raise SystemExit(f"the classifier did not load: {scorer.warning}")
    try:
        for text in texts[:_WARMUP]:
            await scorer.score_all([text])
        took = []
        for text in texts:
            started = time.perf_counter()
            if await scorer.score_all([text]) is None:
                raise SystemExit("the classifier gave no score")
            took.append((time.perf_counter() - started) * 1000)
    finally:
        await scorer.close()
    print(json.dumps({"scoring_ms": statistics.median(took)}))


if __name__ == "__main__":
    asyncio.run(_main())
