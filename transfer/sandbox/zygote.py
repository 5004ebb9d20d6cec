"""The zygote: a clean interpreter that forks one method process per cell.

Started by the harness (transfer.sandbox.client) as `python -m transfer.sandbox.zygote FD`. It imports what every
method needs (numpy, torch, the head trainer), trains a tiny head once so torch's lazy imports are done, and never
sees study data. Each request on FD carries one end of a fresh socket pair; the zygote forks, and the child becomes
the method process (transfer.sandbox.worker) on that socket. Forking a warm interpreter costs milliseconds where
starting one costs seconds. The zygote is not dumpable (no same-user process can read or write its memory) and dies
with the harness.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import struct
import sys


def _warm() -> None:
    import numpy as np
    import torch

    torch.set_num_threads(1)  # no OpenMP team before fork
    from transfer import boundary  # noqa: F401  (the audit hook's module, imported before any method code)
    from transfer.heads import soft_bce, train_head
    from transfer.methods import base  # noqa: F401
    from transfer.sandbox import confine, replies, seccomp, worker  # noqa: F401  (imported once, not per cell)
    seccomp.compiled()  # the filter program, built once
    x, y = np.ones((2, 1), dtype=np.float32), np.array([1.0, 0.0])
    for loss in (soft_bce, lambda z, t, p: soft_bce(z, t, p)):  # the closed-form path and autograd's (any other
        train_head(x, y, seed=0, epochs=1, lr=0.01, l2=0.0, batch_size=None, loss_fn=loss)  # loss): both warmed
    np.linalg.svd(np.eye(3), full_matrices=False)  # LAPACK's first call (PCA in ccs and others), paid here once


def main(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the harness
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: what a method process detaches stays findable (reap)
    _warm()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    control = socket.socket(fileno=fd)
    control.sendall(b"R")  # ready
    while True:
        try:
            _, fds, _, _ = socket.recv_fds(control, 1, 1)
        except (ConnectionError, OSError):
            return
        if not fds:
            return  # the harness closed the control socket
        pid = os.fork()
        if pid == 0:
            control.close()
            sys.dont_write_bytecode = True  # no .pyc written from a method process: it would be code for others
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _child(fds[0])
        os.close(fds[0])
        control.sendall(struct.pack("!q", pid))


def _child(fd: int) -> None:
    from transfer.sandbox import wire, worker

    code = 0
    try:
        sock = socket.socket(fileno=fd)
        worker.serve(sock, wire.recv_request(sock))
    except BaseException:  # noqa: BLE001  (the harness sees the closed socket and reports it)
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    main(int(sys.argv[1]))
