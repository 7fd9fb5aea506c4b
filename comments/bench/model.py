"""Random-weight Detoxify checkpoints for the scoring benchmark, built locally and cached.

Inference speed depends on a model's shape, not on its weight values, so a checkpoint
with bert-base-uncased's shape (Detoxify ``original``) and seeded random weights times
the same as the real one, with no download. The checkpoint is in Detoxify's format, and
its ``model_type`` is the local config folder, so plain ``Detoxify(checkpoint=…)`` loads
it offline too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from comments.bench.corpus import BERT_VOCAB_SIZE, build_vocab

ModelSize = Literal["full", "tiny"]

#: Jigsaw class names, as in Detoxify's ``original`` checkpoint.
CLASSES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")

#: BERT shapes: ``full`` is bert-base-uncased; ``tiny`` keeps its vocabulary and
#: position table (same tokenizer, same truncation) with two narrow layers, for tests.
SHAPES: dict[str, dict[str, int]] = {
    "full": {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
    },
    "tiny": {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 128,
    },
}

# Bumped when what build_bench_model writes changes, so stale caches are rebuilt.
_BUILD_VERSION = 1


@dataclass(frozen=True, slots=True)
class BenchModel:
    """A built benchmark checkpoint.

    Attributes:
        size: ``full`` or ``tiny``.
        checkpoint: the Detoxify-format ``.ckpt``.
        config_dir: its Hugging Face config and tokenizer folder.
    """

    size: str
    checkpoint: Path
    config_dir: Path


def default_workdir() -> Path:
    """``$XDG_CACHE_HOME/comments-bench``, else ``~/.cache/comments-bench``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "comments-bench"


def build_bench_model(workdir: Path, size: ModelSize = "full", *, seed: int = 0) -> BenchModel:
    """Return the benchmark checkpoint of *size* under *workdir*, building it if absent.

    Building the full-size one takes some seconds and about 440 MB of disk.

    Raises:
        ValueError: unknown size.
    """
    if size not in SHAPES:
        raise ValueError(f"unknown model size {size!r}; valid: {', '.join(SHAPES)}")
    folder = workdir / f"detoxify-{size}"
    config_dir = folder / "hf-config"
    checkpoint = folder / f"detoxify-bench-{size}.ckpt"
    stamp = folder / "build.json"
    wanted = {"version": _BUILD_VERSION, "size": size, "seed": seed}
    if checkpoint.is_file() and stamp.is_file():
        try:
            if json.loads(stamp.read_text(encoding="utf-8")) == wanted:
                return BenchModel(size, checkpoint, config_dir)
        except ValueError:
            pass  # a damaged stamp: rebuild
    folder.mkdir(parents=True, exist_ok=True)
    _build(folder, config_dir, checkpoint, SHAPES[size], seed)
    stamp.write_text(json.dumps(wanted), encoding="utf-8")
    return BenchModel(size, checkpoint, config_dir)


def _build(
    folder: Path, config_dir: Path, checkpoint: Path, shape: dict[str, int], seed: int
) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    config_dir.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(build_vocab(BERT_VOCAB_SIZE)) + "\n", encoding="utf-8")
    # Positional vocab argument: transformers 5 calls it `vocab`, 4.x `vocab_file`.
    tokenizer = BertTokenizer(str(vocab_file), do_lower_case=True, model_max_length=512)
    tokenizer.save_pretrained(str(config_dir))
    config: dict[str, Any] = {
        **shape,
        "vocab_size": BERT_VOCAB_SIZE,
        "max_position_embeddings": 512,
    }
    BertConfig(**config).save_pretrained(str(config_dir))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BertForSequenceClassification(BertConfig(**{**config, "num_labels": len(CLASSES)}))
        with torch.no_grad():
            # A wider head than the default initialisation, so scores spread over 0..1
            # as a trained model's do, and score differences are not flattened near 0.5.
            model.classifier.weight.normal_(0.0, 0.25)
            model.classifier.bias.normal_(0.0, 1.0)
    state = {
        "config": {
            "arch": {
                "args": {
                    # A local folder, so Detoxify's own loader works offline as well.
                    "model_type": str(config_dir.resolve()),
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": len(CLASSES),
                }
            },
            "dataset": {"args": {"classes": list(CLASSES)}},
        },
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
    }
    partial = checkpoint.with_suffix(".partial")
    torch.save(state, partial)
    partial.replace(checkpoint)
