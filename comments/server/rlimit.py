"""The open-files limit: every socket is a file descriptor, and the usual soft limit
(1024) stops a node, or a load generator, far short of 10,000 sockets."""

from __future__ import annotations

import resource


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; return the soft limit now.

    Raising the soft limit up to the hard one needs no privilege; child processes
    inherit it. Returns RLIM_INFINITY (-1) when there is no limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return soft
    # An unlimited hard limit cannot be the soft one on Linux (nr_open caps it).
    for wanted in [hard] if hard != resource.RLIM_INFINITY else [1 << 20, 1 << 16]:
        if wanted <= soft:
            return soft
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):  # a sandbox that refuses: try less, or keep ours
            continue
        return wanted
    return soft
