"""Detoxify (unitary/detoxify 0.5.4) behind the :class:`Classifier` interface.

Importing this module imports torch and detoxify; the factory imports it only when a
Detoxify classifier is chosen.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlparse

import torch
import torch.hub
import transformers.utils.logging
from detoxify.detoxify import MODEL_URLS, Detoxify, get_model_and_tokenizer

from comments.scoring.classifier.base import (
    Classifier,
    ClassifierLoadError,
    ClassifierOptions,
    clamp_score,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = "original"

# Detoxify renames a few Jigsaw class names so every model reports the same labels.
_LABEL_NAMES = {
    "toxic": "toxicity",
    "identity_hate": "identity_attack",
    "severe_toxic": "severe_toxicity",
}

# Position-embedding tables beyond this are never trained in the shipped models.
_MAX_TOKENS = 512


def detoxify_cache_path(model: str = DEFAULT_MODEL, hub_dir: str | Path | None = None) -> Path:
    """Return where Detoxify's download of *model* lives (torch hub's checkpoint cache).

    Args:
        model: a Detoxify model name (``original``, ``unbiased``, …).
        hub_dir: torch hub directory; ``None`` means ``torch.hub.get_dir()``.

    Raises:
        ValueError: unknown model name.
    """
    if model not in MODEL_URLS:
        raise ValueError(f"unknown Detoxify model {model!r}; valid: {', '.join(MODEL_URLS)}")
    base = Path(hub_dir) if hub_dir is not None else Path(torch.hub.get_dir())
    # Same file name torch.hub.load_state_dict_from_url (Detoxify's downloader) uses.
    return base / "checkpoints" / Path(urlparse(MODEL_URLS[model]).path).name


def installed_config_dir(checkpoint: Path) -> Path:
    """Where ``comments model install --config-dir`` puts a checkpoint's Hugging Face
    config and tokenizer: beside it, named after it (``x.ckpt`` → ``x.config``). Loading
    a checkpoint with no config dir configured reads this folder when it is there."""
    return checkpoint.with_suffix(".config")


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class _LoadedDetoxify(Detoxify):  # type: ignore[misc]  # detoxify ships no type hints
    """A Detoxify predictor around a model we built and verified ourselves.

    Detoxify's own ``__init__`` would ``torch.load`` the checkpoint a second time, and it
    offers no hook to fix ``model_type`` or to load strictly; ``predict`` is reused as is.
    """

    def __init__(self, model: Any, tokenizer: Any, class_names: list[str]) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.class_names = class_names
        self.device = "cpu"


class DetoxifyClassifier(Classifier):
    """Detoxify's transformer models: six to sixteen labels, CPU inference.

    Args:
        model: Detoxify model name: original, original-small, unbiased, unbiased-small,
            multilingual. Names the cached download; a *checkpoint* overrides it.
        checkpoint: path to a Detoxify ``.ckpt`` (air-gapped hosts); ``None`` uses
            Detoxify's download in the torch hub cache.
        config_dir: a Hugging Face folder with the model's config and tokenizer files;
            when set nothing is fetched from the Hugging Face hub.
        torch_threads: torch intra-op threads for inference (process-wide setting).
        allow_download: download the checkpoint when it is not cached.
        hub_dir: torch hub directory; ``None`` means ``torch.hub.get_dir()``.

    Raises:
        ValueError: unknown *model* or *torch_threads* < 1.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        checkpoint: str | Path | None = None,
        config_dir: str | Path | None = None,
        torch_threads: int = 1,
        allow_download: bool = False,
        hub_dir: str | Path | None = None,
    ) -> None:
        if model not in MODEL_URLS:
            raise ValueError(f"unknown Detoxify model {model!r}; valid: {', '.join(MODEL_URLS)}")
        if torch_threads < 1:
            raise ValueError(f"torch_threads must be >= 1, got {torch_threads}")
        self.model_name = model
        self.name = f"detoxify:{model}"
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.config_dir = Path(config_dir) if config_dir is not None else None
        self.torch_threads = torch_threads
        self.allow_download = allow_download
        self.hub_dir = hub_dir
        self._predictor: _LoadedDetoxify | None = None

    @classmethod
    def from_options(cls, variant: str | None, options: ClassifierOptions) -> Self:
        """Build from a ``detoxify[:MODEL]`` spec; downloads are on unless turned off.

        Raises:
            ValueError: unknown model name.
        """
        return cls(
            variant or DEFAULT_MODEL,
            checkpoint=options.checkpoint,
            config_dir=options.config_dir,
            torch_threads=options.torch_threads,
            # Asking for Detoxify by name means "get it"; auto passes False.
            allow_download=True if options.allow_download is None else options.allow_download,
            hub_dir=options.hub_dir,
        )

    # -- loading -----------------------------------------------------------------------

    def load(self) -> None:
        """Find (or download) the checkpoint, build the model, load its weights strictly.

        Raises:
            ClassifierLoadError: missing/unreadable checkpoint or config folder, a
                checkpoint whose weights do not fit the model, or a failed download.
        """
        torch.set_num_threads(self.torch_threads)
        path = self._checkpoint_path()
        config_dir = self.config_dir
        if config_dir is None and installed_config_dir(path).is_dir():
            config_dir = installed_config_dir(path)
        digest = sha256_file(path)
        log.info("Detoxify checkpoint %s sha256=%s", path, digest)
        loaded = self._read_checkpoint(path)
        arch_args, class_names = _checkpoint_config(loaded, path)
        if config_dir is not None:
            if not (config_dir / "config.json").is_file():
                raise ClassifierLoadError(
                    f"Detoxify config dir {config_dir} has no config.json; it must hold "
                    f"the Hugging Face config and tokenizer of {arch_args['model_type']!r}"
                )
            # Detoxify always asks transformers for the config of model_type (a hub name
            # such as "bert-base-uncased") and would go to the network; a local folder
            # there is read from disk, and num_labels still comes from the checkpoint.
            arch_args["model_type"] = str(config_dir)
        state_dict = loaded["state_dict"]
        # A server's stderr is a log, not a terminal: no "Loading weights" bars in it.
        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            model, tokenizer = get_model_and_tokenizer(**arch_args, state_dict=state_dict)
        except Exception as exc:
            hint = (
                ""
                if config_dir is not None
                else " (offline? set a config dir holding the model's HF config and tokenizer)"
            )
            raise ClassifierLoadError(
                f"Detoxify could not build {arch_args['model_name']} from {path}: {exc}{hint}"
            ) from exc
        _load_strict(model, state_dict, path)
        _cap_tokenizer_length(model, tokenizer)
        model.eval()
        self._predictor = _LoadedDetoxify(model, tokenizer, class_names)
        self.labels = tuple(class_names)
        self.detail = f"{path} sha256={digest[:16]}"
        log.info(
            "Detoxify %s loaded from %s (%d labels, %d torch threads)",
            arch_args["model_name"],
            path,
            len(class_names),
            self.torch_threads,
        )

    def _checkpoint_path(self) -> Path:
        if self.checkpoint is not None:
            if not self.checkpoint.is_file():
                raise ClassifierLoadError(
                    f"Detoxify checkpoint {self.checkpoint} does not exist or is not a file"
                )
            return self.checkpoint
        cached = detoxify_cache_path(self.model_name, self.hub_dir)
        if cached.is_file():
            return cached
        if not self.allow_download:
            raise ClassifierLoadError(
                f"no Detoxify weights for {self.model_name!r} at {cached} and downloading is off; "
                f"run `comments model fetch {self.model_name}` or configure a checkpoint"
            )
        _download(self.model_name, cached)
        return cached

    @staticmethod
    def _read_checkpoint(path: Path) -> dict[str, Any]:
        try:
            # weights_only=False like Detoxify: the checkpoint is a trusted, operator-chosen
            # file whose config section is a pickled dict.
            loaded = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ClassifierLoadError(f"cannot read Detoxify checkpoint {path}: {exc}") from exc
        if not isinstance(loaded, dict) or "config" not in loaded or "state_dict" not in loaded:
            raise ClassifierLoadError(
                f"{path} is not a Detoxify checkpoint: it needs 'config' and 'state_dict' keys"
            )
        return loaded

    # -- scoring -----------------------------------------------------------------------

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Score texts; see :meth:`Classifier.score_batch`.

        Texts of similar length are run together so short comments are not padded to
        the longest one in the batch.
        """
        predictor = self._predictor
        if predictor is None:
            raise RuntimeError("DetoxifyClassifier.load() has not run")
        results: list[dict[str, float]] = [{} for _ in texts]
        for bucket in length_buckets([len(t) for t in texts]):
            raw = predictor.predict([texts[i] for i in bucket])
            for label, values in raw.items():
                # predict squeezes a one-text batch down to a bare float.
                column = values if isinstance(values, list) else [values]
                if len(column) != len(bucket):
                    raise RuntimeError(
                        f"Detoxify returned {len(column)} scores for {len(bucket)} texts"
                    )
                for index, value in zip(bucket, column, strict=True):
                    results[index][label] = clamp_score(value)
        return results


def length_buckets(
    lengths: Sequence[int], max_ratio: float = 2.0, slack: int = 32
) -> list[list[int]]:
    """Group indices so that, within a group, the longest text is at most about
    *max_ratio* times the shortest (plus *slack* characters).

    Args:
        lengths: text lengths, in input order.
        max_ratio: allowed longest/shortest ratio within a group.
        slack: extra characters allowed, so short texts are not split needlessly.

    Returns:
        Groups of input indices, each sorted by length, together covering every index.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    buckets: list[list[int]] = []
    for index in order:
        if buckets and lengths[index] <= lengths[buckets[-1][0]] * max_ratio + slack:
            buckets[-1].append(index)
        else:
            buckets.append([index])
    return buckets


def _checkpoint_config(loaded: Mapping[str, Any], path: Path) -> tuple[dict[str, Any], list[str]]:
    """Pull and check the parts of a Detoxify checkpoint's config that loading uses."""
    try:
        arch_args = dict(loaded["config"]["arch"]["args"])
        classes = list(loaded["config"]["dataset"]["args"]["classes"])
    except (KeyError, TypeError) as exc:
        raise ClassifierLoadError(
            f"{path}: checkpoint config lacks arch.args or dataset.args.classes ({exc!r})"
        ) from exc
    for key in ("model_type", "model_name", "tokenizer_name"):
        if not isinstance(arch_args.get(key), str):
            raise ClassifierLoadError(f"{path}: checkpoint config arch.args.{key} is missing")
    if not str(arch_args["model_name"]).endswith("ForSequenceClassification"):
        raise ClassifierLoadError(
            f"{path}: arch.args.model_name {arch_args['model_name']!r} is not a "
            "transformers *ForSequenceClassification class"
        )
    if arch_args.get("num_classes") != len(classes):
        raise ClassifierLoadError(
            f"{path}: arch.args.num_classes={arch_args.get('num_classes')!r} but "
            f"dataset.args.classes has {len(classes)} names"
        )
    return arch_args, [_LABEL_NAMES.get(str(c), str(c)) for c in classes]


def _load_strict(model: Any, state_dict: Mapping[str, Any], path: Path) -> None:
    """Load *state_dict* into *model* strictly, so it never runs on random weights.

    transformers' ``from_pretrained`` only warns about missing weights and initialises
    them randomly; here every model tensor must come from the checkpoint. The forms
    transformers itself accepts are normalised first: keys without the base-model
    prefix, TF-era LayerNorm ``gamma``/``beta``, and buffers the model does not save.
    """
    expected = set(model.state_dict())
    unsaved_buffers = {name for name, _ in model.named_buffers()} - expected
    prefix = f"{model.base_model_prefix}."
    normalised: dict[str, Any] = {}
    for key, tensor in state_dict.items():
        name = key
        if name not in expected:
            if name.endswith(".gamma"):
                name = name.removesuffix(".gamma") + ".weight"
            elif name.endswith(".beta"):
                name = name.removesuffix(".beta") + ".bias"
        if name not in expected and prefix + name in expected:
            name = prefix + name
        if name in unsaved_buffers:
            continue
        normalised[name] = tensor
    missing = sorted(expected - set(normalised))
    unexpected = sorted(set(normalised) - expected)
    if missing or unexpected:
        raise ClassifierLoadError(
            f"Detoxify checkpoint {path} does not match {type(model).__name__}: "
            f"{len(missing)} model weights missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]}); refusing to run on "
            "randomly initialised weights"
        )
    try:
        model.load_state_dict(normalised, strict=True)
    except RuntimeError as exc:
        raise ClassifierLoadError(
            f"Detoxify checkpoint {path} does not fit {type(model).__name__}: {str(exc)[:500]}"
        ) from exc


def _cap_tokenizer_length(model: Any, tokenizer: Any) -> None:
    """Make truncation effective: a tokenizer saved without ``model_max_length``
    reports a huge limit, and a long comment would overrun the position table."""
    limit = min(_MAX_TOKENS, int(getattr(model.config, "max_position_embeddings", _MAX_TOKENS)))
    if tokenizer.model_max_length > limit:
        tokenizer.model_max_length = limit


def _download(model: str, destination: Path) -> None:
    url = MODEL_URLS[model]
    destination.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading Detoxify %s from %s to %s", model, url, destination)
    try:
        # Writes to a temporary file and renames, so a broken download is never cached.
        torch.hub.download_url_to_file(url, str(destination), progress=False)
    except Exception as exc:
        raise ClassifierLoadError(
            f"could not download Detoxify {model!r} from {url}: {exc}. Is this host offline? "
            f"Copy the checkpoint to {destination}, or configure a checkpoint path and a "
            "config dir"
        ) from exc


def fetch_detoxify(model: str = DEFAULT_MODEL, *, hub_dir: str | Path | None = None) -> Path:
    """Download Detoxify *model* into its cache and check that it loads.

    Fetches the checkpoint into torch hub's cache (where Detoxify looks) and, by loading
    it once, the Hugging Face config and tokenizer into the Hugging Face cache.

    Args:
        model: Detoxify model name.
        hub_dir: torch hub directory; ``None`` means ``torch.hub.get_dir()``.

    Returns:
        The cached checkpoint's path.

    Raises:
        ValueError: unknown model name.
        ClassifierLoadError: the download failed (e.g. no network) or the model does
            not load.
    """
    classifier = DetoxifyClassifier(model, allow_download=True, hub_dir=hub_dir)
    classifier.load()
    return detoxify_cache_path(model, hub_dir)


@dataclass(frozen=True, slots=True)
class InstalledModel:
    """What ``comments model install`` put where.

    Attributes:
        checkpoint: the installed copy, where ``auto`` and ``detoxify`` look.
        sha256: its hex sha256.
        config_dir: the installed copy of the config folder, if one was given.
        labels: the labels the checkpoint reports.
    """

    checkpoint: Path
    sha256: str
    config_dir: Path | None
    labels: tuple[str, ...]


def install_detoxify(
    checkpoint: str | Path,
    *,
    config_dir: str | Path | None = None,
    hub_dir: str | Path | None = None,
) -> InstalledModel:
    """Check that a Detoxify checkpoint loads, strictly, then copy it where ``auto`` finds it.

    The checkpoint is loaded as the server would load it (every model weight from the
    file, see ``_load_strict``), then copied to :func:`detoxify_cache_path` of the default
    model, replacing what is there; *config_dir*, when given, to
    :func:`installed_config_dir` beside it, where loading finds it. Installing without a
    config dir removes an earlier install's, which belonged to another checkpoint. Each
    copy is made under a temporary name and renamed, so a failed copy leaves no half file.

    Args:
        checkpoint: a Detoxify ``.ckpt`` file.
        config_dir: its Hugging Face config and tokenizer folder (needed offline).
        hub_dir: torch hub directory; ``None`` means ``torch.hub.get_dir()``.

    Returns:
        Where it went, its sha256 and its labels.

    Raises:
        ClassifierLoadError: a missing file or folder, or a checkpoint that does not load
            strictly; nothing is copied then.
    """
    source = Path(checkpoint)
    config_source = Path(config_dir) if config_dir is not None else None
    if config_source is not None and not config_source.is_dir():
        raise ClassifierLoadError(f"config dir {config_source} does not exist or is not a folder")
    check = DetoxifyClassifier(checkpoint=source, config_dir=config_source)
    check.load()
    destination = detoxify_cache_path(DEFAULT_MODEL, hub_dir)
    destination.parent.mkdir(parents=True, exist_ok=True)
    config_target = installed_config_dir(destination)
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    config_temporary = config_target.with_name(f".{config_target.name}.{os.getpid()}.tmp")
    try:
        # Both copied first, then both renamed: a full disk leaves the old install whole.
        shutil.copyfile(source, temporary)
        if config_source is not None:
            shutil.rmtree(config_temporary, ignore_errors=True)
            shutil.copytree(config_source, config_temporary)
        shutil.rmtree(config_target, ignore_errors=True)
        if config_source is not None:
            config_temporary.rename(config_target)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
        shutil.rmtree(config_temporary, ignore_errors=True)
    log.info("Detoxify checkpoint %s installed as %s", source, destination)
    return InstalledModel(
        checkpoint=destination,
        sha256=sha256_file(destination),
        config_dir=config_target if config_source is not None else None,
        labels=check.labels,
    )
