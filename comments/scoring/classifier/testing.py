"""Test support: a tiny Detoxify-format checkpoint and a network guard.

Shipped in the package so every test suite (classifier, server, CLI) can build the same
checkpoint without downloads: the real Detoxify loading and prediction code runs on a
2-layer BERT with random weights. Nothing here is used in production.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Jigsaw class names as stored in Detoxify's "original" checkpoint.
TINY_CLASSES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
#: The labels Detoxify reports for them.
TINY_LABELS = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
)
TINY_MAX_POSITIONS = 64

_WORDS = [
    "the",
    "a",
    "an",
    "and",
    "or",
    "but",
    "if",
    "then",
    "else",
    "of",
    "to",
    "in",
    "on",
    "at",
    "by",
    "for",
    "with",
    "from",
    "about",
    "as",
    "into",
    "like",
    "through",
    "after",
    "over",
    "between",
    "out",
    "against",
    "during",
    "without",
    "before",
    "under",
    "around",
    "among",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "do",
    "does",
    "did",
    "will",
    "would",
    "shall",
    "should",
    "can",
    "could",
    "may",
    "might",
    "must",
    "i",
    "you",
    "he",
    "she",
    "it",
    "we",
    "they",
    "me",
    "him",
    "her",
    "us",
    "them",
    "my",
    "your",
    "his",
    "its",
    "our",
    "their",
    "this",
    "that",
    "these",
    "those",
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "just",
    "now",
    "here",
    "there",
    "up",
    "down",
    "off",
    "again",
    "further",
    "once",
    "thanks",
    "thank",
    "good",
    "great",
    "nice",
    "article",
    "post",
    "comment",
    "thoughtful",
    "read",
    "reading",
    "agree",
    "disagree",
    "point",
    "idea",
    "think",
    "people",
    "time",
    "year",
    "day",
    "way",
    "man",
    "woman",
    "world",
    "life",
    "work",
    "news",
    "story",
    "write",
    "writer",
    "author",
    "question",
    "answer",
    "reply",
    "love",
    "hate",
    "stupid",
    "idiot",
    "fool",
    "moron",
    "dumb",
    "ugly",
    "shut",
    "kill",
    "die",
    "trash",
    "garbage",
    "loser",
    "fucking",
    "fuck",
    "shit",
    "damn",
    "hell",
    "crap",
    "bad",
    "worse",
    "worst",
    "awful",
    "terrible",
    "pathetic",
    "disgusting",
    "hello",
    "hi",
    "welcome",
    "please",
    "sorry",
    "yes",
    "okay",
    "well",
    "really",
    "quite",
    "new",
    "old",
    "first",
    "last",
    "long",
    "short",
    "big",
    "small",
    "high",
    "low",
    "right",
    "wrong",
    "true",
    "false",
]
_VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    *".,!?'\"-:;()",
    *"abcdefghijklmnopqrstuvwxyz0123456789",
    *dict.fromkeys(_WORDS),  # dedupe, keep order
    "##s",
    "##ed",
    "##ing",
    "##ly",
    "##er",
]


@dataclass(frozen=True, slots=True)
class TinyDetoxify:
    """Paths of a built tiny checkpoint.

    Attributes:
        checkpoint: the ``.ckpt`` file, in Detoxify's format, whose
            ``config.arch.args.model_type`` is the hub name ``bert-base-uncased`` like
            the real one (so loading it offline needs *config_dir*).
        config_dir: Hugging Face config + tokenizer folder (``save_pretrained``), with a
            stock config (``num_labels`` 2, as a plain download would have).
        labels: the labels the classifier reports.
    """

    checkpoint: Path
    config_dir: Path
    labels: tuple[str, ...] = TINY_LABELS


def build_tiny_detoxify(directory: Path, *, seed: int = 0) -> TinyDetoxify:
    """Write a tiny Detoxify-format checkpoint and its config folder under *directory*.

    A 2-layer BERT (hidden size 32, 2 heads, ~250-token vocab) with seeded random
    weights, larger than the default initialisation so different texts get visibly
    different scores. Takes about a second; makes no network access.

    Args:
        directory: an existing, writable folder.
        seed: weight seed; the same seed gives the same weights.

    Returns:
        The checkpoint and config folder paths.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    config_dir = directory / "tiny-bert-config"
    config_dir.mkdir(parents=True, exist_ok=True)
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(_VOCAB) + "\n", encoding="utf-8")
    # No model_max_length on purpose: the loader must cap it to the position table.
    # Positional: transformers 5 calls it `vocab`, 4.x `vocab_file` (and 5 ignores that).
    tokenizer = BertTokenizer(str(vocab_file), do_lower_case=True)
    if tokenizer.convert_tokens_to_ids("article") == tokenizer.unk_token_id:
        raise RuntimeError(f"tokenizer did not read {vocab_file}")
    tokenizer.save_pretrained(str(config_dir))
    shape: dict[str, Any] = {
        "vocab_size": len(_VOCAB),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": TINY_MAX_POSITIONS,
        "initializer_range": 0.2,  # above the default, so texts get distinct scores
    }
    BertConfig(**shape).save_pretrained(str(config_dir))
    with torch.random.fork_rng():  # leave the caller's RNG state alone
        torch.manual_seed(seed)
        model = BertForSequenceClassification(
            BertConfig(**{**shape, "num_labels": len(TINY_CLASSES)})
        )
        with torch.no_grad():
            model.classifier.weight.normal_(0.0, 0.5)
            model.classifier.bias.zero_()
    checkpoint = {
        "config": {
            "arch": {
                "args": {
                    "model_type": "bert-base-uncased",
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": len(TINY_CLASSES),
                }
            },
            "dataset": {"args": {"classes": list(TINY_CLASSES)}},
        },
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
    }
    path = directory / "tiny-detoxify.ckpt"
    torch.save(checkpoint, path)
    return TinyDetoxify(checkpoint=path, config_dir=config_dir)


class NetworkBlocked(OSError):
    """Raised by :func:`forbid_network` for a connection to a non-loopback host."""


def _is_local(host: object) -> bool:
    if host is None or isinstance(host, bytes | bytearray):
        return True  # getaddrinfo(None, …) is a local bind; bytes are AF_UNIX paths
    if not isinstance(host, str):
        return False
    if host == "" or host == "localhost" or host.startswith("/") or host.startswith("\0"):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost


@contextmanager
def forbid_network() -> Iterator[list[str]]:
    """Make every non-loopback connection or name lookup fail, process-wide.

    Yields:
        A list that collects a description of each blocked attempt; a test asserts it
        is empty, since library code may swallow the :class:`NetworkBlocked` error.
    """
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def address_host(address: object) -> object:
        return address[0] if isinstance(address, tuple) else address

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_local(address_host(address)):
            attempts.append(f"connect {address!r}")
            raise NetworkBlocked(f"network access blocked in tests: connect {address!r}")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_local(address_host(address)):
            attempts.append(f"connect_ex {address!r}")
            raise NetworkBlocked(f"network access blocked in tests: connect {address!r}")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_local(host):
            attempts.append(f"getaddrinfo {host!r}")
            raise socket.gaierror(f"network access blocked in tests: lookup {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    # setattr: the replacements are looser-typed than typeshed's signatures.
    setattr(socket.socket, "connect", connect)  # noqa: B010
    setattr(socket.socket, "connect_ex", connect_ex)  # noqa: B010
    setattr(socket, "getaddrinfo", getaddrinfo)  # noqa: B010
    try:
        yield attempts
    finally:
        setattr(socket.socket, "connect", real_connect)  # noqa: B010
        setattr(socket.socket, "connect_ex", real_connect_ex)  # noqa: B010
        setattr(socket, "getaddrinfo", real_getaddrinfo)  # noqa: B010
