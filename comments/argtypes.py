"""Argument types shared by the command-line parsers (``comments …`` and the bench's helpers).

Each is an argparse ``type=`` function: it returns the parsed value or raises
``argparse.ArgumentTypeError``, which argparse prints as ``argument --port: …`` with the
usage line, exiting with status 2 before anything starts.
"""

from __future__ import annotations

import argparse
import re

MIN_PORT = 1
MAX_PORT = 65535


def port(text: str) -> int:
    """A TCP port to listen on or connect to: a whole number from 1 to 65535.

    Port 0 ("any free port") is refused too: the command would then print a port it does
    not listen on.
    """
    # Plain ASCII digits only: int() would also take "8_000", "+80" or Arabic-Indic digits.
    if not re.fullmatch(r"[0-9]{1,5}", text.strip()):
        raise argparse.ArgumentTypeError(
            f"a port is a whole number from {MIN_PORT} to {MAX_PORT}, got {text!r}"
        )
    value = int(text)
    if not MIN_PORT <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"a port is from {MIN_PORT} to {MAX_PORT}, got {text!r}")
    return value
