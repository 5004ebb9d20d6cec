"""Killing what a method process left behind.

The zygote is a child subreaper: a process the method double-forked and detached (setsid) is re-parented to the
zygote, not to init, so it can still be found. When a cell ends, the harness kills every child of the zygote that
is not the method process of a live cell, with its descendants. With namespaces the PID namespace already dies with
its PID 1; this is what holds under `runtime.sandbox=process`. Children are read from the kernel's per-task lists
(/proc/<pid>/task/<tid>/children): no scan of every process on the machine.
"""

from __future__ import annotations

import contextlib
import os
import signal

LIVE: set[int] = set()  # method processes of cells still running in this harness process


def children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    return out


def descendants(pid: int) -> list[tuple[int, int]]:
    """(process, its parent) for every descendant of pid."""
    out, todo = [], [(c, pid) for c in children(pid)]
    while todo:
        p, parent = todo.pop()
        out.append((p, parent))
        todo += [(c, p) for c in children(p)]
    return out


def _kill(p: int, parent: int) -> bool:
    """SIGKILL p if it is still parent's child: through a pidfd checked after opening, so a pid reused by an
    unrelated process in between is never signalled."""
    try:
        fd = os.pidfd_open(p)
    except OSError:
        return False
    try:
        with open(f"/proc/{p}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        if ppid != parent:
            return False
        signal.pidfd_send_signal(fd, signal.SIGKILL)
        return True
    except (OSError, ValueError, IndexError):
        return False
    finally:
        os.close(fd)


def kill_strays(pid: int, zygote_pid: int | None) -> int:
    """SIGKILL `pid`'s descendants and the zygote's stray children with theirs (twice: a process forked while the
    first pass ran is caught by the second); return how many were signalled. The zygote reaps them."""
    killed: set[int] = set()
    for _ in range(2):
        found = descendants(pid)
        if zygote_pid is not None:
            for child in children(zygote_pid):
                if child not in LIVE and child != pid:  # pid itself was killed by the caller
                    found += [(child, zygote_pid), *descendants(child)]
        for p, parent in found:
            if p not in killed and _kill(p, parent):
                killed.add(p)
    return len(killed)
