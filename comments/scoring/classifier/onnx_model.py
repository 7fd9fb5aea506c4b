"""Detoxify on ONNX Runtime: the same checkpoint and scores, several times faster on CPU.

The checkpoint is loaded exactly as :class:`DetoxifyClassifier` loads it (strict weight
names, the same tokenizer and labels), exported once with ``torch.onnx`` and cached beside
the checkpoint under its sha256, then run by ``onnxruntime``. Every load checks the ONNX
model against torch on a few probe texts, so a stale or damaged cached export is
re-exported rather than used. Scores are Detoxify's: a sigmoid over every logit.

``onnx-int8`` adds dynamic int8 quantisation of the weights (faster again, scores off by
a few hundredths): opt-in, since how far it drifts depends on the weights.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from comments.scoring.classifier.base import (
    Classifier,
    ClassifierLoadError,
    ClassifierOptions,
    clamp_score,
)
from comments.scoring.classifier.detoxify_model import (
    DEFAULT_MODEL,
    DetoxifyClassifier,
    detoxify_cache_path,
    length_buckets,
    sha256_file,
)

log = logging.getLogger(__name__)

#: Largest |score difference| to torch allowed for the fp32 export on the probe texts.
FP32_TOLERANCE = 1e-3
_OPSET = 17
_PROBES = (
    "hi",
    "thanks for the thoughtful article",
    "you are a fucking idiot, and the writer is wrong about every single point here",
    "I read it twice. " * 60,
)
# Within one ONNX call the longest text is at most this many times the shortest (in
# tokens, plus the slack): on CPU, padding costs more than a bigger batch gains (a lone
# comment already runs near the matmul rate; 1.05/2 beat 1.3/8 by ~5% in alternated runs).
_BUCKET_RATIO = 1.05
_BUCKET_SLACK = 2


def default_cache_dir() -> Path:
    """Where exports go when the checkpoint's folder is not writable."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "comments" / "onnx"


class OnnxDetoxifyClassifier(Classifier):
    """A Detoxify model run by ONNX Runtime (``COMMENTS_DETOXIFY_BACKEND=onnx``).

    Args:
        model: Detoxify model name (see :class:`DetoxifyClassifier`).
        checkpoint: Detoxify ``.ckpt`` path; ``None``: the torch hub cache.
        config_dir: Hugging Face config + tokenizer folder for the checkpoint.
        torch_threads: threads for inference (ONNX Runtime's intra-op threads, and
            torch's while exporting).
        allow_download: download the checkpoint when it is not cached.
        hub_dir: torch hub directory.
        cache_dir: where exported models go; ``None``: beside the checkpoint, or
            :func:`default_cache_dir` when that folder is not writable.
        quantize: int8 dynamic quantisation of the weights.

    Raises:
        ValueError: unknown *model* or *torch_threads* < 1.
    """

    #: Class default for :attr:`quantize`; the int8 subclass turns it on.
    QUANTIZE = False

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        checkpoint: str | Path | None = None,
        config_dir: str | Path | None = None,
        torch_threads: int = 1,
        allow_download: bool = False,
        hub_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        quantize: bool | None = None,
    ) -> None:
        # Validates the arguments, and does the loading: one way to read a checkpoint.
        self._torch = DetoxifyClassifier(
            model,
            checkpoint=checkpoint,
            config_dir=config_dir,
            torch_threads=torch_threads,
            allow_download=allow_download,
            hub_dir=hub_dir,
        )
        self.name = self._torch.name
        self.torch_threads = torch_threads
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.quantize = self.QUANTIZE if quantize is None else quantize
        #: The ONNX file in use, once loaded.
        self.onnx_path: Path | None = None
        #: Did the last :meth:`load` export (or quantise) rather than reuse a cached file?
        self.exported = False
        #: Largest |score difference| to torch on the probe texts at the last load.
        self.probe_delta: float | None = None
        self.session: Any = None
        self._tokenizer: Any = None
        self._input_names: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, variant: str | None, options: ClassifierOptions) -> Self:
        """Build from a ``detoxify[:MODEL]`` spec, like :class:`DetoxifyClassifier`."""
        return cls(
            variant or DEFAULT_MODEL,
            checkpoint=options.checkpoint,
            config_dir=options.config_dir,
            torch_threads=options.torch_threads,
            allow_download=True if options.allow_download is None else options.allow_download,
            hub_dir=options.hub_dir,
        )

    @property
    def backend(self) -> str:
        """``onnx`` or ``onnx-int8``."""
        return "onnx-int8" if self.quantize else "onnx"

    # -- loading -----------------------------------------------------------------------

    def load(self) -> None:
        """Load the checkpoint through Detoxify, export it to ONNX unless cached, check it.

        Raises:
            ClassifierLoadError: the checkpoint does not load (see
                :meth:`DetoxifyClassifier.load`), the export fails, or the exported
                model's scores differ from torch's.
        """
        import onnxruntime

        torch_classifier = self._torch
        torch_classifier.load()
        predictor = torch_classifier._predictor
        assert predictor is not None  # load() returned
        path = torch_classifier.checkpoint or detoxify_cache_path(
            torch_classifier.model_name, torch_classifier.hub_dir
        )
        digest = sha256_file(path)
        fp32 = self._export_dir(path) / f"{path.stem}.{digest[:16]}.onnx"
        target = fp32.with_suffix(".int8.onnx") if self.quantize else fp32
        self._tokenizer = predictor.tokenizer
        self.labels = torch_classifier.labels
        started = time.monotonic()
        self.exported = False
        try:
            delta = self._open_checked(onnxruntime, torch_classifier, predictor.model, fp32, target)
        except BaseException:
            self.session = None  # never score with a model that did not pass the check
            raise
        self.onnx_path = target
        self.probe_delta = delta
        # The torch model is needed no more: ONNX Runtime holds its own copy.
        torch_classifier._predictor = None
        self.detail = f"{path} sha256={digest[:16]} {self.backend}: {target.name}"
        log.info(
            "Detoxify %s on ONNX Runtime (%s, %d threads) from %s in %.1fs; "
            "max |score - torch| on probes %.2g",
            self._torch.model_name,
            self.backend,
            self.torch_threads,
            "a fresh export" if self.exported else "the cached export",
            time.monotonic() - started,
            delta,
        )

    def _open_checked(
        self,
        onnxruntime: Any,
        torch_classifier: DetoxifyClassifier,
        model: Any,
        fp32: Path,
        target: Path,
    ) -> float:
        """Open *target*, exporting it when missing, or again when the cached one is
        unusable or stale; return its largest score difference to torch on the probes.

        Raises:
            ClassifierLoadError: a fresh export does not run or does not match torch.
        """
        for attempt in ("cached", "fresh"):
            if attempt == "fresh" or not target.is_file():
                self._export(model, fp32, target, fresh=attempt == "fresh")
                self.exported = True
            try:
                self.session = self._session(onnxruntime, target)
                delta = self._probe_delta(torch_classifier)
            except Exception as exc:
                if attempt == "cached" and not self.exported:
                    log.warning(
                        "cached ONNX model %s is unusable (%s); exporting again", target, exc
                    )
                    continue
                raise ClassifierLoadError(f"ONNX model {target} does not run: {exc}") from exc
            if self.quantize or delta <= FP32_TOLERANCE:
                return delta
            if attempt == "cached" and not self.exported:
                log.warning(
                    "cached ONNX model %s differs from the checkpoint by %.2g; exporting again",
                    target,
                    delta,
                )
                continue
            break
        raise ClassifierLoadError(
            f"the ONNX export {target} scores up to {delta:.2g} away from torch "
            f"(allowed {FP32_TOLERANCE:g}); use COMMENTS_DETOXIFY_BACKEND=torch"
        )

    def _export_dir(self, checkpoint: Path) -> Path:
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            return self.cache_dir
        if os.access(checkpoint.parent, os.W_OK):
            return checkpoint.parent
        fallback = default_cache_dir()
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback

    def _export(self, model: Any, fp32: Path, target: Path, *, fresh: bool) -> None:
        """Write *fp32* (unless an int8 *target* can be made from a cached one), then,
        for int8, quantise it into *target*."""
        if fresh or target == fp32 or not fp32.is_file():
            started = time.monotonic()
            with _replacing(fp32) as temporary:
                _export_onnx(model, self._tokenizer, temporary)
            log.info("exported %s to ONNX in %.1fs", fp32.name, time.monotonic() - started)
        if target != fp32:
            started = time.monotonic()
            with _replacing(target) as temporary:
                _quantize(fp32, temporary)
            log.info("quantised %s to int8 in %.1fs", fp32.name, time.monotonic() - started)

    def _session(self, onnxruntime: Any, path: Path) -> Any:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.torch_threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle inference threads sleep instead of spinning: the node's event loop shares
        # these cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self._input_names = tuple(i.name for i in session.get_inputs())
        return session

    def _probe_delta(self, torch_classifier: DetoxifyClassifier) -> float:
        expected = torch_classifier.score_batch(list(_PROBES))
        got = self.score_batch(list(_PROBES))
        return max(
            abs(a[label] - b[label])
            for a, b in zip(expected, got, strict=True)
            for label in self.labels
        )

    # -- scoring -----------------------------------------------------------------------

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Score texts; see :meth:`Classifier.score_batch`.

        Texts are tokenized once, then run in groups of similar token counts, each
        padded only to its own longest text.
        """
        session = self.session
        if session is None:
            raise RuntimeError("OnnxDetoxifyClassifier.load() has not run")
        if not texts:
            return []
        encoded = self._tokenizer(list(texts), truncation=True)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        results: list[dict[str, float]] = [{} for _ in texts]
        for bucket in length_buckets(lengths, _BUCKET_RATIO, _BUCKET_SLACK):
            feeds = self._pad(encoded, bucket, max(lengths[i] for i in bucket))
            (logits,) = session.run(["logits"], feeds)
            if logits.shape != (len(bucket), len(self.labels)):
                raise RuntimeError(
                    f"ONNX model returned logits of shape {logits.shape} for "
                    f"{len(bucket)} texts and {len(self.labels)} labels"
                )
            for index, row in zip(bucket, _sigmoid(logits), strict=True):
                results[index] = {
                    label: clamp_score(value) for label, value in zip(self.labels, row, strict=True)
                }
        return results

    def _pad(self, encoded: Any, bucket: list[int], width: int) -> dict[str, npt.NDArray[np.int64]]:
        pad_id = self._tokenizer.pad_token_id or 0
        feeds = {}
        for name in self._input_names:
            fill = pad_id if name == "input_ids" else 0
            array = np.full((len(bucket), width), fill, dtype=np.int64)
            for row, index in enumerate(bucket):
                values = encoded[name][index]
                array[row, : len(values)] = values
            feeds[name] = array
        return feeds


class OnnxInt8DetoxifyClassifier(OnnxDetoxifyClassifier):
    """:class:`OnnxDetoxifyClassifier` with int8 weights (backend ``onnx-int8``)."""

    QUANTIZE = True


def _sigmoid(logits: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
    # The tanh form never overflows, unlike 1 / (1 + exp(-x)) for very negative x.
    return 0.5 * (1.0 + np.tanh(0.5 * logits.astype(np.float64)))


def _quantize(source: Path, destination: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    root.addFilter(_no_preprocessing_advice)
    try:
        quantize_dynamic(str(source), str(destination), weight_type=QuantType.QInt8)
    except Exception as exc:
        raise ClassifierLoadError(f"could not quantise {source} to int8: {exc}") from exc
    finally:
        root.removeFilter(_no_preprocessing_advice)


def _no_preprocessing_advice(record: logging.LogRecord) -> bool:
    # quantize_dynamic narrates every tensor through the root logger, and advises a
    # pre-processing step whose shape inference does not complete on these graphs:
    # nothing there for an operator; its errors still get through.
    quantizer = os.sep + os.path.join("onnxruntime", "quantization") + os.sep
    return record.levelno >= logging.ERROR or quantizer not in record.pathname


def _export_onnx(model: Any, tokenizer: Any, destination: Path) -> None:
    """Export a transformers ``*ForSequenceClassification`` model to ONNX (logits only),
    with dynamic batch and sequence axes."""
    import torch

    example = tokenizer(
        ["a short probe", "a somewhat longer probe text, so that the batch is padded"],
        return_tensors="pt",
        padding=True,
        truncation=True,
    )
    names = tuple(example.keys())

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            return self.model(**dict(zip(names, inputs, strict=True))).logits

    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    # Plain attention exports to a graph ONNX Runtime runs faster (and as exactly) as
    # the scaled_dot_product_attention one; the torch model goes back to its own after.
    attention = getattr(model.config, "_attn_implementation", None)
    if attention not in (None, "eager"):
        model.set_attn_implementation("eager")
    try:
        # The exporter narrates (tracer and deprecation warnings about code paths a
        # sequence classifier does not take); the probe check after export is what counts.
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Logits().eval(),
                tuple(example[name] for name in names),
                str(destination),
                input_names=list(names),
                output_names=["logits"],
                dynamic_axes={**axes, "logits": {0: "batch"}},
                opset_version=_OPSET,
                do_constant_folding=True,
                dynamo=False,  # the TorchScript exporter: no onnxscript needed
            )
    except Exception as exc:
        raise ClassifierLoadError(f"could not export the model to ONNX: {exc}") from exc
    finally:
        if attention not in (None, "eager"):
            model.set_attn_implementation(attention)


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside *path*, renamed onto it when the block succeeds,
    so another process never sees a half-written model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp makes the file private; like the checkpoint beside it, a model is not
        # secret, and other service users may need to read it.
        temporary.chmod(0o644)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
