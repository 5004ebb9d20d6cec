"""The method process: load the method plugin, then answer the harness's requests until it closes the connection.

Runs in a process forked from the zygote, confined first (transfer.sandbox.confine) where the platform allows it.
Method code runs behind the audit hook and call tracer of transfer.boundary as well (defense in depth: it keeps
the one-line refusals — "may not start a process" — that a namespace alone would turn into obscure failures).
Replies are JSON and .npy only (transfer.sandbox.wire).
"""

from __future__ import annotations

import os
import socket
import traceback

import numpy as np

from transfer.sandbox import wire


def serve(sock: socket.socket, spec: dict) -> None:
    """`spec`: {"method": cfg, "who": str, "protected": [paths], "hidden": [paths], "sandbox": auto|namespaces|process,
    "scratch": a fresh folder of this cell}"""
    try:
        confinement = _confine(spec)
        for key in [k for k in os.environ if k.startswith(("MLFLOW_", "TRANSFER_", "RAY_"))]:
            del os.environ[key]  # no pointer to the store, the harness home or the cluster
        from transfer import boundary
        from transfer.methods import load_method

        scratch = _scratch(spec, confinement)
        method = load_method(spec["method"])
        boundary.guard_method(method, spec["who"], spec["protected"], scratch)
        wire.send_reply(sock, {"ok": True, "modes": list(method.modes), "needs": list(method.needs),
                               "kinds": list(method.kinds), "confinement": confinement})
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
            elif op == "diagnostics":
                diag = {str(k): float(v) for k, v in method.diagnostics.items()}
                wire.send_reply(sock, {"ok": True, "diagnostics": diag})
            else:
                raise ValueError(f"unknown request {op!r}")
        except BaseException as exc:  # noqa: BLE001
            _send_error(sock, exc)


def _scratch(spec: dict, confinement: str) -> str | None:
    """Without namespaces there is no private /tmp: the method may write only in the cell's own scratch folder
    (made and removed by the harness), so nothing it writes is there for a later cell."""
    if confinement == "namespaces":
        return None
    import tempfile
    os.environ["TMPDIR"] = tempfile.tempdir = spec["scratch"]
    return spec["scratch"]


def _confine(spec: dict) -> str:
    """'namespaces', or 'process (<why not>)' where the platform refuses them and the config allows the fallback."""
    if spec["sandbox"] == "process":
        return "process (runtime.sandbox=process)"
    from transfer.sandbox.confine import ConfinementRefused, confine
    try:
        confine(spec["hidden"])
        return "namespaces"
    except ConfinementRefused as exc:
        if spec["sandbox"] == "namespaces":
            raise ConfinementRefused(exc.errno, f"runtime.sandbox=namespaces, but the kernel refused "
                                                f"{exc.strerror}; use runtime.sandbox=auto to fall back") from None
        return f"process ({exc.strerror or exc})"


def _send_error(sock: socket.socket, exc: BaseException) -> None:
    from transfer.errors import BoundaryError
    from transfer.sandbox.confine import ConfinementRefused
    kind = "boundary" if isinstance(exc, BoundaryError) else "config" if isinstance(exc, ConfinementRefused) \
        else "error"
    text = "".join(traceback.format_exception(exc))
    try:
        message = exc.strerror if isinstance(exc, ConfinementRefused) else str(exc)
        wire.send_reply(sock, {"ok": False, "kind": kind, "type": type(exc).__name__, "message": message,
                               "traceback": text[-8000:]})
    except OSError:
        os._exit(1)
