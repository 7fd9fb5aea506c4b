"""The import's progress bar: on stderr when it is a terminal, nothing otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import IO, Any

from tqdm import tqdm


class Progress:
    def __init__(self, stream: IO[str] | None = None, *, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._bar: Any = None

    def start(self, label: str, total: float | None, *, unit: str, scale: bool = False) -> None:
        self.close()
        if not self.enabled:
            return
        self._bar = tqdm(
            total=total,
            desc=label,
            unit=unit,
            unit_scale=scale,
            unit_divisor=1024 if scale else 1000,
            file=self.stream,
            dynamic_ncols=True,
            mininterval=0.2,
            # Rate and time left are what an operator watching a long import needs.
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
            "[{elapsed}<{remaining}, {rate_fmt}]",
        )

    def update(self, n: float) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class CountingReader:
    """A binary file that tells ``progress`` how many bytes were read from it."""

    def __init__(self, raw: IO[bytes], progress: Progress) -> None:
        self.raw = raw
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.progress.update(len(data))
        return data

    def __iter__(self) -> Iterator[bytes]:
        for line in self.raw:
            self.progress.update(len(line))
            yield line
