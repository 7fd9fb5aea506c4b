"""Comment bodies kept on disk while an import reads the whole export.

The importer reads an export to its end before writing anything (a malformed or unsafe
file must import nothing), so it holds every post at once. The bodies are most of that
memory: they wait here in an unnamed temporary file, and each post keeps only where its
body is. 200k comments take ~100 MB less this way; reading a body back is a seek and a
read from the page cache.
"""

from __future__ import annotations

import tempfile
from typing import IO


class BodySpool:
    def __init__(self) -> None:
        # Unnamed (deleted on close, and by the OS if the process dies).
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="comments-import-")  # noqa: SIM115 (closed by close())
        self._end = 0

    def put(self, text: str) -> tuple[int, int]:
        """Store ``text``; returns (offset, length) to read it back with :meth:`get`."""
        data = text.encode()
        self._file.seek(self._end)
        self._file.write(data)
        at = self._end
        self._end += len(data)
        return at, len(data)

    def get(self, where: tuple[int, int]) -> str:
        offset, length = where
        self._file.seek(offset)
        return self._file.read(length).decode()

    def close(self) -> None:
        self._file.close()
