"""A per-node cache of encoded read responses (thread first pages, counts).

Entries are keyed by everything the answer depends on, the articles' marks included
(``last_seq`` and reactions version, comments.live.read_marks): every change a reader
can see (publish, removal, redaction, edit, like) moves one, and a key with a moved mark
is simply never asked again (it ages out of the LRU). Each entry keeps its ETag, so a
hit computes nothing. Only answers that carry no identity are cached: a reader's own
shadowed comments make theirs differ.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass
class ReadCache:
    """LRU of response bodies bounded by their total size; ``budget`` 0 disables it."""

    budget: int
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    size: int = 0
    _entries: OrderedDict[Hashable, tuple[bytes, str]] = field(default_factory=OrderedDict)

    @property
    def enabled(self) -> bool:
        return self.budget > 0

    def get(self, key: Hashable) -> bytes | None:
        entry = self.lookup(key)
        return None if entry is None else entry[0]

    def lookup(self, key: Hashable, *, count_miss: bool = True) -> tuple[bytes, str] | None:
        """The body and ETag kept under ``key``, or None."""
        entry = self._entries.get(key)
        if entry is None:
            if count_miss:
                self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: Hashable, body: bytes) -> tuple[bytes, str]:
        entry = (body, etag_of(key))
        if len(body) > self.budget:
            return entry
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= len(old[0])
        self._entries[key] = entry
        self.size += len(body)
        while self.size > self.budget:
            _, dropped = self._entries.popitem(last=False)
            self.size -= len(dropped[0])
            self.evictions += 1
        return entry

    def __len__(self) -> int:
        return len(self._entries)


def etag_of(key: Hashable) -> str:
    """A strong validator from the key: same key, same bytes."""
    return '"' + hashlib.blake2b(repr(key).encode(), digest_size=12).hexdigest() + '"'
