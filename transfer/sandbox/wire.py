"""Frames between the harness and a method process, over a Unix socket pair.

Harness -> method: a pickled object (the harness trusts itself). Method -> harness: a JSON header and raw `.npy`
arrays read with `allow_pickle=False`. The harness never unpickles what a method process sends: that would run the
method's code in the harness. What the harness reads is bounded: one deadline for a whole reply (however slowly the
bytes drip), and a size limit per frame checked against its length prefix before any buffer is allocated.
"""

from __future__ import annotations

import io
import json
import pickle
import socket
import struct
import time

import numpy as np

MAX_FRAME = 1 << 31  # 2 GiB: larger than any view a cell sends
MAX_HEADER = 1 << 20  # a reply's JSON header (diagnostics, an error's traceback)
MAX_ARRAYS = 2  # the most a reply carries (targets: index and values)
_LEN = struct.Struct("!Q")


class Deadline:
    """The time left to a whole call; None = no limit."""

    def __init__(self, seconds: float | None):
        self.at = None if seconds is None else time.monotonic() + float(seconds)

    def arm(self, sock: socket.socket) -> None:
        if self.at is not None:
            left = self.at - time.monotonic()
            if left <= 0:
                raise TimeoutError("deadline passed")
            sock.settimeout(left)


def _send_frame(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_LEN.pack(len(data)))
    sock.sendall(data)


def recv_exact(sock: socket.socket, n: int, deadline: Deadline | None = None) -> bytearray:
    """n bytes, in the buffer they were received into (a view's arrays are megabytes: no copy to bytes)."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        if deadline is not None:
            deadline.arm(sock)  # the time left to the call, not a fresh timeout per receive
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("the method process closed its connection")
        got += k
    return buf


def _recv_frame(sock: socket.socket, limit: int = MAX_FRAME, deadline: Deadline | None = None) -> bytearray:
    (n,) = _LEN.unpack(recv_exact(sock, _LEN.size, deadline))
    if n > limit:  # before allocating it
        raise ValueError(f"a frame of {n} bytes exceeds the {limit}-byte limit of this reply")
    return recv_exact(sock, n, deadline)


# harness -> method process
def send_request(sock: socket.socket, obj) -> None:
    _send_frame(sock, pickle.dumps(obj, protocol=5))


def recv_request(sock: socket.socket):
    return pickle.loads(_recv_frame(sock))


# method process -> harness
def send_reply(sock: socket.socket, header: dict, arrays: tuple[np.ndarray, ...] = ()) -> None:
    _send_frame(sock, json.dumps({**header, "n_arrays": len(arrays)}).encode())
    for arr in arrays:
        out = io.BytesIO()
        np.lib.format.write_array(out, np.ascontiguousarray(arr), allow_pickle=False)
        _send_frame(sock, out.getvalue())


def recv_reply(sock: socket.socket, deadline: Deadline | None = None,
               array_limit: int = MAX_FRAME) -> tuple[dict, list[np.ndarray]]:
    """A reply: its JSON header and its arrays, within `deadline`, each array frame at most `array_limit` bytes.
    Anything else (a pickle, an object array, too many or too large frames) raises ValueError."""
    header = json.loads(_recv_frame(sock, MAX_HEADER, deadline))
    if not isinstance(header, dict) or not isinstance(header.get("n_arrays"), int) \
            or not 0 <= header["n_arrays"] <= MAX_ARRAYS:
        raise ValueError("malformed reply header")
    arrays = [np.lib.format.read_array(io.BytesIO(_recv_frame(sock, array_limit, deadline)), allow_pickle=False)
              for _ in range(header["n_arrays"])]
    return header, arrays
