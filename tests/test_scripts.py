"""The scripts a newcomer runs (scripts/, .ci/run) and the lock they install from."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "dev.lock"


def test_shellcheck_finds_nothing_in_the_scripts() -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    scripts = [*sorted((ROOT / "scripts").iterdir()), ROOT / ".ci" / "run"]
    result = subprocess.run(
        [str(shellcheck), *map(str, scripts)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_lock_pins_every_package_exactly() -> None:
    pins = [line for line in LOCK.read_text().splitlines() if not line.startswith("#")]
    for pin in pins:
        # name==version only: no ranges, URLs or local labels ("+cpu" names one index).
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][0-9A-Za-z.!-]*", pin), pin
    names = [pin.split("==")[0].lower().replace("_", "-") for pin in pins]
    assert len(names) == len(set(names))
    assert "torch==2.13.0" in pins
    assert "comments" not in names
