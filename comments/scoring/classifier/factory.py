"""Pick a classifier by config string (``COMMENTS_CLASSIFIER``), importing only what it needs."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from pathlib import Path

from comments.scoring.classifier.base import Classifier, ClassifierOptions

log = logging.getLogger(__name__)

#: Spec name → "module:Class"; the module is imported only when its name is chosen, so a
#: deployment that never picks Detoxify never imports torch.
CLASSIFIERS: dict[str, str] = {
    "detoxify": "comments.scoring.classifier.detoxify_model:DetoxifyClassifier",
    "profanity-check": "comments.scoring.classifier.profanity:ProfanityCheckClassifier",
}

#: Detoxify's model names (the keys of detoxify's MODEL_URLS, repeated here so that
#: validating a spec needs no torch import; a test keeps the two in step).
DETOXIFY_MODELS = ("original", "original-small", "unbiased", "unbiased-small", "multilingual")

#: How Detoxify runs (``COMMENTS_DETOXIFY_BACKEND``) → "module:Class": torch as Detoxify
#: does; ONNX Runtime on an export of the same checkpoint (same scores, several times
#: faster on CPU); or that with int8 weights (faster again, scores drift: opt-in).
DETOXIFY_BACKENDS: dict[str, str] = {
    "torch": "comments.scoring.classifier.detoxify_model:DetoxifyClassifier",
    "onnx": "comments.scoring.classifier.onnx_model:OnnxDetoxifyClassifier",
    "onnx-int8": "comments.scoring.classifier.onnx_model:OnnxInt8DetoxifyClassifier",
}


#: What Detoxify needs at run time: the ``detoxify`` extra, left out of the base install
#: so that it does not pull torch.
DETOXIFY_MODULES = ("torch", "transformers", "detoxify")
DETOXIFY_INSTALL_HINT = "pip install 'comments[detoxify]'"


def detoxify_missing() -> list[str]:
    """The modules of :data:`DETOXIFY_MODULES` that are not installed (found, not imported)."""
    return [name for name in DETOXIFY_MODULES if importlib.util.find_spec(name) is None]


def _require_detoxify(what: str) -> None:
    missing = detoxify_missing()
    if missing:
        raise ValueError(
            f"{what} needs {_names(missing)}, not installed: {DETOXIFY_INSTALL_HINT} "
            "(the README says how to get torch's CPU-only build)"
        )


def _names(modules: list[str]) -> str:
    return " and ".join([", ".join(modules[:-1]), modules[-1]] if len(modules) > 1 else modules)


def valid_specs() -> list[str]:
    """Every accepted classifier spec, for error messages and ``--help``."""
    return ["auto", "detoxify", *(f"detoxify:{m}" for m in DETOXIFY_MODELS), "profanity-check"]


def load_class(name: str) -> type[Classifier]:
    """Import the classifier class registered under *name* in :data:`CLASSIFIERS`.

    Raises:
        KeyError: no such name.
        TypeError: the registered object is not a Classifier subclass.
    """
    return _import_class(CLASSIFIERS[name])


def _import_class(target: str) -> type[Classifier]:
    module_name, _, attribute = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attribute)
    if not (isinstance(cls, type) and issubclass(cls, Classifier)):
        raise TypeError(f"{target} is not a Classifier subclass")
    return cls


def _detoxify_class(backend: str) -> type[Classifier]:
    return _import_class(DETOXIFY_BACKENDS[backend])


def create_classifier(
    spec: str = "auto",
    *,
    checkpoint: str | None = None,
    config_dir: str | None = None,
    torch_threads: int = 1,
    allow_download: bool | None = None,
    hub_dir: str | None = None,
    backend: str = "torch",
) -> Classifier:
    """Build (but do not load) the classifier a spec names.

    ``auto`` is Detoxify when its weights are on disk (a configured *checkpoint*, or
    Detoxify's ``original`` download in the torch hub cache), otherwise the bundled
    profanity-check model with ``fallback_reason`` set (status ``"fallback"``).
    A configured checkpoint that then fails to load is a failure, not a fallback.

    Args:
        spec: ``auto``, ``detoxify``, ``detoxify:MODEL`` or ``profanity-check``.
        checkpoint: Detoxify ``.ckpt`` path (air-gapped hosts).
        config_dir: Hugging Face config + tokenizer folder for that checkpoint.
        torch_threads: torch intra-op threads for Detoxify inference.
        allow_download: may Detoxify download missing weights? ``None``: yes for an
            explicit ``detoxify`` spec; ``auto`` never downloads.
        hub_dir: torch hub directory (``None``: torch's default).
        backend: how Detoxify runs, one of :data:`DETOXIFY_BACKENDS` (ignored by the
            bundled model).

    Returns:
        An unloaded classifier; call ``load()`` (blocking) or ``MicroBatcher.load()``.

    Raises:
        ValueError: unknown spec, variant or model, listing the valid specs; or Detoxify
            asked for (by name or by a checkpoint) without torch and detoxify installed.
    """
    name, _, variant = spec.strip().partition(":")
    if (name != "auto" and name not in CLASSIFIERS) or (
        name == "detoxify" and variant and variant not in DETOXIFY_MODELS
    ):
        raise ValueError(f"unknown classifier {spec!r}; valid: {', '.join(valid_specs())}")
    if torch_threads < 1:
        raise ValueError(f"torch_threads must be >= 1, got {torch_threads}")
    if backend not in DETOXIFY_BACKENDS:
        raise ValueError(
            f"unknown Detoxify backend {backend!r}; valid: {', '.join(DETOXIFY_BACKENDS)}"
        )
    options = ClassifierOptions(
        checkpoint=checkpoint,
        config_dir=config_dir,
        torch_threads=torch_threads,
        allow_download=allow_download,
        hub_dir=hub_dir,
    )
    if name == "auto":
        if variant:
            raise ValueError(f"auto takes no variant, got {spec!r}")
        return _auto(options, backend)
    if name == "detoxify":
        _require_detoxify(f"classifier {spec!r}")
        return _detoxify_class(backend).from_options(variant or None, options)
    return load_class(name).from_options(variant or None, options)


def _auto(options: ClassifierOptions, backend: str = "torch") -> Classifier:
    # auto never reaches for the network: it uses what is on disk.
    local = ClassifierOptions(
        checkpoint=options.checkpoint,
        config_dir=options.config_dir,
        torch_threads=options.torch_threads,
        allow_download=False,
        hub_dir=options.hub_dir,
    )
    if options.checkpoint is not None:
        # A configured checkpoint is meant to be used: no torch is an error, not a fallback.
        _require_detoxify("a configured Detoxify checkpoint")
        return _detoxify_class(backend).from_options(None, local)
    missing = detoxify_missing()
    if missing:
        return _fallback(
            f"{_names(missing)} not installed (Detoxify is the optional extra: "
            f"{DETOXIFY_INSTALL_HINT})"
        )
    # Finding torch hub's cache imports torch (detoxify_model); only the path is checked.
    from comments.scoring.classifier.detoxify_model import DEFAULT_MODEL, detoxify_cache_path

    cached = detoxify_cache_path(DEFAULT_MODEL, options.hub_dir)
    if cached.is_file():
        return _detoxify_class(backend).from_options(None, local)
    return _fallback(
        f"no Detoxify weights on disk (no checkpoint configured, {cached} absent); "
        "run `comments model fetch` or configure a Detoxify checkpoint"
    )


def _fallback(why: str) -> Classifier:
    reason = f"{why}; using the bundled profanity-check model"
    log.warning("classifier auto: %s", reason)
    from comments.scoring.classifier.profanity import ProfanityCheckClassifier

    return ProfanityCheckClassifier(fallback_reason=reason)


def fetch_model(model: str = "original", *, hub_dir: str | None = None) -> Path:
    """Download Detoxify *model* ahead of time (``comments model fetch [MODEL]``).

    Fetches the checkpoint into torch hub's cache, where Detoxify and ``auto`` look, and
    loads it once, which also caches its Hugging Face config and tokenizer.

    Args:
        model: one of :data:`DETOXIFY_MODELS`.
        hub_dir: torch hub directory (``None``: torch's default).

    Returns:
        The path of the cached checkpoint.

    Raises:
        ValueError: unknown model name, or torch and detoxify not installed.
        ClassifierLoadError: the download failed (the message says when the host looks
            offline) or the downloaded model does not load.
    """
    if model not in DETOXIFY_MODELS:
        raise ValueError(f"unknown Detoxify model {model!r}; valid: {', '.join(DETOXIFY_MODELS)}")
    _require_detoxify("fetching a Detoxify model")
    from comments.scoring.classifier.detoxify_model import fetch_detoxify

    return fetch_detoxify(model, hub_dir=hub_dir)
