"""Killing what a method process left behind, where no PID namespace does it (`runtime.sandbox=process`).

The zygote is a child subreaper: a process the method double-forked and detached (setsid) is re-parented to the
zygote, not to init, so it can still be found. When a cell ends, the harness kills the method process's own
descendants and every child of the zygote that is not a method process of a live cell.
"""

from __future__ import annotations

import contextlib

import psutil

LIVE: set[int] = set()  # method processes of cells still running in this harness process


def kill_strays(pid: int, zygote_pid: int | None) -> int:
    """Kill `pid`'s descendants and the zygote's stray children with theirs; return how many were killed."""
    found: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        found += psutil.Process(pid).children(recursive=True)
    if zygote_pid is not None:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(zygote_pid).children():
                if child.pid not in LIVE:
                    found.append(child)
                    with contextlib.suppress(psutil.Error):
                        found += child.children(recursive=True)
    for proc in found:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(found, timeout=2)
    return len(found)
