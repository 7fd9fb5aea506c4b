"""A per-node cache of encoded read responses (thread first pages, counts).

Entries are keyed by everything the answer depends on, the articles' ``last_seq``
included: every change a reader can see (publish, removal, redaction, edit) appends an
event and so moves ``last_seq``, and a key with a moved seq is simply never asked again
(it ages out of the LRU). Only answers that carry no identity are cached: a reader's own
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
    _entries: OrderedDict[Hashable, bytes] = field(default_factory=OrderedDict)

    @property
    def enabled(self) -> bool:
        return self.budget > 0

    def get(self, key: Hashable) -> bytes | None:
        body = self._entries.get(key)
        if body is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return body

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.budget:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= len(old)
        self._entries[key] = body
        self.size += len(body)
        while self.size > self.budget:
            _, dropped = self._entries.popitem(last=False)
            self.size -= len(dropped)
            self.evictions += 1

    def __len__(self) -> int:
        return len(self._entries)


def etag_of(key: Hashable) -> str:
    """A strong validator from the key: same key, same bytes."""
    return '"' + hashlib.blake2b(repr(key).encode(), digest_size=12).hexdigest() + '"'
