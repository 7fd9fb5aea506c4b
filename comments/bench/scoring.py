"""Scoring benchmark: naive Detoxify against our scorer, on the same weights and comments.

*Naive* is what Detoxify's README does: ``Detoxify.predict`` on one comment at a time,
torch, default settings. *Ours* is the node's path: comments queued at once into a
:class:`MicroBatcher` (batches of ``--batch-size``, texts of similar length run
together) over the torch backend, the ONNX Runtime backend, and its int8 variant, each
with the node's thread count. All run the same locally built random-weight checkpoint
(bert-base shape unless ``--model-size tiny``) on the same generated comments.

The comments are split into rounds, and every variant scores each round in turn, so a
change in machine load during the run touches all of them alike.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from comments.bench import Context, Figures, Section, Target
from comments.bench.corpus import generate_comments
from comments.bench.model import SHAPES, BenchModel, build_bench_model
from comments.scoring.classifier.base import Classifier, ClassifierOptions
from comments.settings import Settings

#: Comments scored by a full run and by ``--quick``.
FULL_COMMENTS = 1000
QUICK_COMMENTS = 200
_WARMUP = 3
#: Shortest slice of the matrix-multiply measurement per round, s.
_GEMM_MIN_S = 0.5


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--model-size",
        choices=tuple(SHAPES),
        default="full",
        help="full: bert-base, the shape of Detoxify's original model (default); "
        "tiny: two narrow layers, for a functional check in seconds",
    )
    group.add_argument(
        "--comments",
        type=int,
        default=None,
        help=f"comments to score (default {FULL_COMMENTS}, {QUICK_COMMENTS} with --quick)",
    )
    group.add_argument(
        "--batch-size",
        type=int,
        default=Settings.classifier_batch_size,
        help="micro-batch size of our scorer (default: the node's, "
        f"COMMENTS_CLASSIFIER_BATCH_SIZE={Settings.classifier_batch_size})",
    )
    group.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="inference threads of our scorer (COMMENTS_TORCH_THREADS; default: every core)",
    )
    group.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="rounds the comments are split into (default 10, 5 with --quick)",
    )
    group.add_argument(
        "--no-int8", action="store_true", help="leave out the opt-in int8 ONNX backend"
    )


@dataclass(slots=True)
class _Variant:
    key: str
    cls: type[Classifier] | None = None  # None: naive Detoxify
    batcher: Any = None  # a loaded MicroBatcher
    seconds: float = 0.0
    load_s: float = 0.0
    scores: list[list[float]] = field(default_factory=list)


def run(args: argparse.Namespace, context: Context) -> Figures:
    """Build the model, score the comments with every variant, return the figures."""
    return asyncio.run(_run(args, context))


async def _run(args: argparse.Namespace, context: Context) -> Figures:
    import torch
    import transformers.utils.logging
    from detoxify import Detoxify

    from comments.scoring.classifier import MicroBatcher
    from comments.scoring.classifier.detoxify_model import DetoxifyClassifier
    from comments.scoring.classifier.onnx_model import (
        OnnxDetoxifyClassifier,
        OnnxInt8DetoxifyClassifier,
    )

    count = args.comments or (QUICK_COMMENTS if context.quick else FULL_COMMENTS)
    rounds = max(1, min(count, args.rounds or (5 if context.quick else 10)))
    if count < 1 or args.batch_size < 1 or args.threads < 1:
        raise ValueError("--comments, --batch-size and --threads must be at least 1")
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    default_threads = torch.get_num_threads()  # before any of ours sets it

    context.progress(f"building or reusing the {args.model_size} checkpoint in {context.workdir}")
    model: BenchModel = build_bench_model(context.workdir, args.model_size)
    comments = generate_comments(count)

    naive = _Variant("naive")
    started = time.monotonic()
    detoxify = Detoxify(checkpoint=str(model.checkpoint))
    naive.load_s = time.monotonic() - started
    encoded = detoxify.tokenizer(comments, truncation=True)
    token_counts = sorted(len(ids) for ids in encoded["input_ids"])

    ours = [_Variant("torch_batched", DetoxifyClassifier), _Variant("onnx", OnnxDetoxifyClassifier)]
    if not args.no_int8:
        ours.append(_Variant("onnx_int8", OnnxInt8DetoxifyClassifier))
    try:
        for variant in ours:
            assert variant.cls is not None
            classifier = variant.cls.from_options(
                None,
                ClassifierOptions(
                    checkpoint=str(model.checkpoint),
                    config_dir=str(model.config_dir),
                    torch_threads=args.threads,
                    allow_download=False,
                ),
            )
            context.progress(
                f"loading {variant.key}"
                + (" (exported to ONNX once, then cached)" if "onnx" in variant.key else "")
            )
            # Queued all at once, the comments fill every batch; no deadline on a slow host.
            variant.batcher = MicroBatcher(
                classifier, max_batch=args.batch_size, timeout_s=3600.0, max_pending=count + 1
            )
            started = time.monotonic()
            status = await variant.batcher.load()
            variant.load_s = time.monotonic() - started
            if status.state != "ok":
                raise RuntimeError(f"{variant.key} did not load: {status.detail}")
        context.progress(
            f"scoring {count} comments in {rounds} rounds: naive Detoxify, then "
            + ", ".join(v.key for v in ours)
        )
        for text in comments[:_WARMUP]:  # first calls allocate; time the steady state
            detoxify.predict(text)
        for variant in ours:
            await asyncio.gather(*(variant.batcher.score(t) for t in comments[:_WARMUP]))
        labels = tuple(detoxify.class_names)
        shape = SHAPES[args.model_size]
        gemm = _Gemm(shape["hidden_size"], shape["intermediate_size"], args.threads)
        for index, chunk in enumerate(_split(comments, rounds)):
            torch.set_num_threads(default_threads)
            started = time.perf_counter()
            for text in chunk:
                result = detoxify.predict(text)
                naive.scores.append([float(result[label]) for label in labels])
            naive.seconds += time.perf_counter() - started
            torch.set_num_threads(args.threads)
            for variant in ours:
                started = time.perf_counter()
                results = await asyncio.gather(*(variant.batcher.score(t) for t in chunk))
                elapsed = time.perf_counter() - started
                variant.seconds += elapsed
                variant.scores.extend([r[label] for label in labels] for r in results)
                if variant.key == "onnx":
                    # The ceiling is measured right after ONNX in every round, for as long
                    # as ONNX ran: a change in load touches both alike (one measurement
                    # at the end swung 178-296 GFLOP/s from run to run here).
                    gemm.measure(max(elapsed, _GEMM_MIN_S))
            context.progress(f"round {index + 1}/{rounds} done")
    finally:
        for variant in ours:
            if variant.batcher is not None:
                await variant.batcher.close()

    figures: Figures = {
        "scoring_comments": float(count),
        "scoring_tokens_median": float(statistics.median(token_counts)),
        "scoring_tokens_p90": float(token_counts[int(0.9 * (len(token_counts) - 1))]),
        "scoring_tokens_max": float(token_counts[-1]),
        "scoring_threads": float(args.threads),
        "scoring_batch_size": float(args.batch_size),
        "scoring_naive_per_s": count / naive.seconds,
    }
    for variant in ours:
        figures[f"scoring_{variant.key}_per_s"] = count / variant.seconds
    speed = {v.key: count / v.seconds for v in ours}
    delta = {v.key: _max_delta(naive.scores, v.scores) for v in ours}
    figures["classifier_speedup"] = speed["onnx"] / figures["scoring_naive_per_s"]
    figures["classifier_max_delta"] = delta["onnx"]
    figures["classifier_speedup_torch_batched"] = (
        speed["torch_batched"] / figures["scoring_naive_per_s"]
    )
    figures["classifier_max_delta_torch_batched"] = delta["torch_batched"]
    if "onnx_int8" in speed:
        figures["classifier_speedup_int8"] = speed["onnx_int8"] / figures["scoring_naive_per_s"]
        figures["classifier_max_delta_int8"] = delta["onnx_int8"]
        figures["classifier_mean_delta_int8"] = _mean_delta(naive.scores, ours[-1].scores)
    for variant in ours:
        figures[f"scoring_{variant.key}_load_s"] = variant.load_s
    # The ceiling: how fast this machine multiplies fp32 matrices of the model's shape,
    # against the useful arithmetic ONNX fp32 did (padding excluded).
    useful = sum(_flops(n, shape) for n in token_counts) / 1e9
    figures["scoring_gemm_gflops"] = gemm.gflops()
    figures["scoring_gemm_spread"] = gemm.spread()
    figures["scoring_onnx_gflops"] = useful / (count / speed["onnx"])
    figures["scoring_onnx_share_of_gemm"] = figures["scoring_onnx_gflops"] / gemm.gflops()
    figures["scoring_naive_gflops"] = useful / naive.seconds
    # No fp32 scorer doing the same arithmetic can beat naive Detoxify by more than this.
    figures["classifier_speedup_ceiling"] = gemm.gflops() / figures["scoring_naive_gflops"]
    return figures


def _flops(tokens: int, shape: dict[str, int]) -> float:
    """Floating-point operations (2 per multiply-add) of one comment through the encoder:
    the projections and the feed-forward (which dominate), and the attention products."""
    h, ffn, layers = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    per_layer = 2 * tokens * (4 * h * h + 2 * h * ffn) + 4 * tokens * tokens * h
    return float(layers * per_layer)


class _Gemm:
    """torch's fp32 matrix multiply on a feed-forward-shaped product (a batch of 16
    comments of 64 tokens through the up-projection), with the scorer's threads: the
    machine's ceiling, measured in slices beside the scorer."""

    def __init__(self, hidden: int, ffn: int, threads: int) -> None:
        import torch

        self.threads = threads
        self.a, self.b = torch.randn(16 * 64, hidden), torch.randn(hidden, ffn)
        self.flop_per_run = 2.0 * self.a.shape[0] * hidden * ffn
        self.runs = 0
        self.seconds = 0.0
        self.rates: list[float] = []

    def measure(self, seconds: float) -> None:
        """Multiply for about *seconds* and add the runs to the total."""
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            for _ in range(2):  # warm the caches and the thread pool
                torch.mm(self.a, self.b)
            runs, started = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - started) < seconds:
                torch.mm(self.a, self.b)
                runs += 1
        finally:
            torch.set_num_threads(previous)
        self.runs += runs
        self.seconds += elapsed
        self.rates.append(self.flop_per_run * runs / elapsed / 1e9)

    def gflops(self) -> float:
        """GFLOP/s over every slice."""
        return self.flop_per_run * self.runs / self.seconds / 1e9

    def spread(self) -> float:
        """Fastest slice / slowest: how much the machine's rate moved during the run."""
        return max(self.rates) / min(self.rates)


def _split(items: Sequence[str], parts: int) -> list[Sequence[str]]:
    size = math.ceil(len(items) / parts)
    return [items[i : i + size] for i in range(0, len(items), size)]


def _differences(expected: list[list[float]], got: list[list[float]]) -> list[float]:
    return [
        abs(a - b)
        for row_a, row_b in zip(expected, got, strict=True)
        for a, b in zip(row_a, row_b, strict=True)
    ]


def _max_delta(expected: list[list[float]], got: list[list[float]]) -> float:
    return max(_differences(expected, got))


def _mean_delta(expected: list[list[float]], got: list[list[float]]) -> float:
    differences = _differences(expected, got)
    return sum(differences) / len(differences)


SECTION = Section(
    name="scoring",
    summary="naive Detoxify against our scorer (torch micro-batched, ONNX, ONNX int8)",
    run=run,
    add_arguments=add_arguments,
    labels={
        "scoring_comments": "comments scored by every variant",
        "scoring_tokens_median": "tokens per comment, median",
        "scoring_tokens_p90": "tokens per comment, 90th percentile",
        "scoring_tokens_max": "tokens per comment, most (512 = truncated)",
        "scoring_threads": "inference threads of our scorer",
        "scoring_batch_size": "micro-batch size of our scorer",
        "scoring_naive_per_s": "naive Detoxify, comments/s (predict one at a time, torch)",
        "scoring_torch_batched_per_s": "ours on torch, comments/s",
        "scoring_onnx_per_s": "ours on ONNX Runtime fp32, comments/s",
        "scoring_onnx_int8_per_s": "ours on ONNX Runtime int8 (opt-in), comments/s",
        "classifier_speedup": "ONNX fp32 / naive, comments/s ratio",
        "classifier_max_delta": "ONNX fp32: largest |score - naive score|",
        "classifier_speedup_torch_batched": "torch micro-batched / naive",
        "classifier_max_delta_torch_batched": "torch micro-batched: largest |score difference|",
        "classifier_speedup_int8": "ONNX int8 / naive",
        "classifier_max_delta_int8": "ONNX int8: largest |score difference| (random weights)",
        "classifier_mean_delta_int8": "ONNX int8: mean |score difference| (random weights)",
        "scoring_torch_batched_load_s": "torch backend load, s",
        "scoring_onnx_load_s": "ONNX load, s (includes the export when not cached)",
        "scoring_onnx_int8_load_s": "ONNX int8 load, s (includes quantising when not cached)",
        "scoring_gemm_gflops": "this machine's fp32 matrix multiply, GFLOP/s (the ceiling; "
        "measured in every round right after ONNX)",
        "scoring_gemm_spread": "matrix multiply, fastest round's rate / slowest's",
        "scoring_onnx_gflops": "ONNX fp32: useful GFLOP/s (padding excluded)",
        "scoring_onnx_share_of_gemm": "ONNX fp32's useful GFLOP/s / the machine's matmul rate",
        "scoring_naive_gflops": "naive Detoxify: useful GFLOP/s",
        "classifier_speedup_ceiling": "the machine's matmul rate / naive's: the most any fp32 "
        "scorer could gain",
    },
    targets={
        "classifier_speedup": Target(">=", 4.0),
        "classifier_max_delta": Target("<=", 1e-3),
        "classifier_speedup_int8": Target(">=", 10.0, "opt-in"),
    },
    # The targets are about Detoxify's real shape; the tiny model only checks the plumbing.
    judged=lambda args: args.model_size == "full",
)
