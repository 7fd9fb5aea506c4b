"""What a benchmark reads about another process from /proc: memory and CPU time."""

from __future__ import annotations

import os

_TICKS = os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` in kB (VmRSS).

    Raises:
        OSError: no such process, or no /proc.
    """
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise OSError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time ``pid`` has used so far, user plus system, in seconds (10 ms steps).

    Raises:
        OSError: no such process, or no /proc.
    """
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        text = stat.read()
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of stat(5)
    return (utime + stime) / _TICKS
