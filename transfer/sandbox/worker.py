"""The method process: confine itself, report that to the harness, load the plugin, then answer the harness's
requests until it closes the connection.

Runs in a process forked from the zygote, confined first (transfer.sandbox.confine) unless the config opts out
(`runtime.sandbox=process`, trusted code only). Everything the method's code runs, its module's import and its
`__init__` included, runs behind the audit hook and call tracer of transfer.boundary as well (defense in depth: it
keeps the one-line refusals — "may not start a process" — that a namespace alone would turn into obscure failures).
Replies are JSON and .npy only (transfer.sandbox.wire).
"""

from __future__ import annotations

import os
import resource
import socket
import traceback

import numpy as np

from transfer.sandbox import wire


def serve(sock: socket.socket, spec: dict) -> None:
    """`spec`: {"method": cfg, "who": str, "protected": [paths], "hidden": [paths], "sandbox": auto|namespaces|process,
    "scratch": a fresh folder of this cell, "limits": {"memory_mb", "nproc", "file_mb"}}"""
    try:
        confinement = _confine(spec)
        _limit(spec.get("limits") or {})
        for key in [k for k in os.environ if k.startswith(("MLFLOW_", "TRANSFER_", "RAY_"))]:
            del os.environ[key]  # no pointer to the store, the harness home or the cluster
        # said before any method code runs: what the harness reads here no method code can have written
        wire.send_reply(sock, {"ok": True, "confined": confinement})
        from transfer import boundary
        from transfer.methods import load_method

        scratch = _scratch(spec, confinement)
        method = boundary.load_guarded(load_method, spec["method"], spec["who"], spec["protected"], scratch)
        modes, needs, kinds = boundary.run_guarded(
            lambda: tuple([str(v) for v in getattr(method, k)] for k in ("modes", "needs", "kinds")),
            record=boundary.record_for(spec["who"], spec["protected"], scratch))
        wire.send_reply(sock, {"ok": True, "modes": modes, "needs": needs, "kinds": kinds})
    except BaseException as exc:  # noqa: BLE001  (reported to the harness, which raises)
        _send_error(sock, exc)
        return
    predictor = None
    while True:
        try:
            request = wire.recv_request(sock)
        except EOFError:
            return
        try:
            op = request["op"]
            if op == "fit":
                predictor = method.fit(request["view"])
                wire.send_reply(sock, {"ok": True})
            elif op == "predict":
                if predictor is None:
                    raise RuntimeError("predict_proba before fit")
                wire.send_reply(sock, {"ok": True}, (np.asarray(predictor.predict_proba(request["x"]), np.float64),))
            elif op == "targets":
                index, targets = method.targets(request["view"])
                wire.send_reply(sock, {"ok": True}, (np.asarray(index, np.int64), np.asarray(targets, np.float64)))
            elif op == "diagnostics":  # the harness validates keys and values (transfer.sandbox.client)
                diag = boundary.run_guarded(lambda: {str(k)[:300]: v if isinstance(v, (int, float)) else str(v)[:50]
                                                     for k, v in dict(method.diagnostics).items()},
                                            record=boundary.record_for(spec["who"], spec["protected"], scratch))
                wire.send_reply(sock, {"ok": True, "diagnostics": diag})
            else:
                raise ValueError(f"unknown request {op!r}")
        except BaseException as exc:  # noqa: BLE001
            _send_error(sock, exc)


def _limit(limits: dict) -> None:
    """Hard limits the method cannot raise: address space, file size, no core dumps. (Not RLIMIT_NPROC: it counts
    every thread of the user, Ray's included, and root ignores it; processes are capped by the PID namespace.)"""
    for name, value in (("RLIMIT_AS", limits.get("memory_mb")), ("RLIMIT_FSIZE", limits.get("file_mb")),
                        ("RLIMIT_CORE", 0)):
        if value is not None:
            n = int(value) * (1 << 20) if name != "RLIMIT_CORE" else 0
            resource.setrlimit(getattr(resource, name), (n, n))


def _scratch(spec: dict, confinement: str) -> str | None:
    """Without namespaces there is no private /tmp: the method may write only in the cell's own scratch folder
    (made and removed by the harness), so nothing it writes is there for a later cell."""
    import tempfile
    if confinement == "namespaces":
        os.environ.update(TMPDIR="/tmp", HOME="/tmp")  # its own tmpfs; the harness's home does not exist there
        tempfile.tempdir = "/tmp"
        return None
    os.environ["TMPDIR"] = tempfile.tempdir = spec["scratch"]
    return spec["scratch"]


def _confine(spec: dict) -> str:
    """'namespaces', or 'process' where the config opts out; a refusal by the kernel is an error (the harness says
    how to opt out): method code never runs unconfined by default."""
    if spec["sandbox"] == "process":
        return "process"
    from transfer.sandbox.confine import confine
    confine(spec["hidden"], max_pids=(spec.get("limits") or {}).get("nproc"))
    return "namespaces"


def _send_error(sock: socket.socket, exc: BaseException) -> None:
    from transfer.errors import BoundaryError, ConfinementRefused
    kind = "boundary" if isinstance(exc, BoundaryError) else "config" if isinstance(exc, ConfinementRefused) \
        else "error"
    text = "".join(traceback.format_exception(exc))
    try:
        message = exc.strerror if isinstance(exc, ConfinementRefused) else str(exc)
        wire.send_reply(sock, {"ok": False, "kind": kind, "type": type(exc).__name__, "message": message,
                               "traceback": text[-8000:]})
    except OSError:
        os._exit(1)
