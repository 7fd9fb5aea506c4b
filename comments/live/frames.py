"""Server frames built once for many sockets, and how a socket's writer is handed them.

Pure: no I/O and nothing from uvicorn, so the hub and the pump use it without the
server. ``comments.server.ws_protocol`` puts a ``RAW_FRAMES`` writer in each socket's
scope; code that gets no writer (another server, a deflate socket) sends through ASGI.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

#: The scope extension: ``Callable[[bytes], bool]``, write one whole frame if possible.
RAW_FRAMES = "comments.raw_frames"

RawFrames = Callable[[bytes], bool]


def text_frame(data: bytes) -> bytes:
    """A final, unmasked text frame (RFC 6455 §5.2) carrying ``data``, UTF-8 already."""
    size = len(data)
    if size < 126:
        return b"\x81" + bytes((size,)) + data
    if size < 1 << 16:
        return b"\x81\x7e" + struct.pack("!H", size) + data
    return b"\x81\x7f" + struct.pack("!Q", size) + data
