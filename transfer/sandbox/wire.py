"""Frames between the harness and a method process, over a Unix socket pair.

Harness -> method: a pickled object (the harness trusts itself). Method -> harness: a JSON header and raw `.npy`
arrays read with `allow_pickle=False`. The harness never unpickles what a method process sends: that would run the
method's code in the harness.
"""

from __future__ import annotations

import io
import json
import pickle
import socket
import struct

import numpy as np

MAX_FRAME = 1 << 31  # 2 GiB: larger than any view or prediction array a cell makes
_LEN = struct.Struct("!Q")


def _send_frame(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_LEN.pack(len(data)))
    sock.sendall(data)


def recv_exact(sock: socket.socket, n: int) -> bytearray:
    """n bytes, in the buffer they were received into (a view's arrays are megabytes: no copy to bytes)."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("the method process closed its connection")
        got += k
    return buf


def _recv_frame(sock: socket.socket) -> bytearray:
    (n,) = _LEN.unpack(recv_exact(sock, _LEN.size))
    if n > MAX_FRAME:
        raise ValueError(f"frame of {n} bytes exceeds the {MAX_FRAME}-byte limit")
    return recv_exact(sock, n)


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


def recv_reply(sock: socket.socket) -> tuple[dict, list[np.ndarray]]:
    """A reply: its JSON header and its arrays. Anything else (a pickle, an object array) raises ValueError."""
    header = json.loads(_recv_frame(sock))
    if not isinstance(header, dict) or not isinstance(header.get("n_arrays"), int) or not 0 <= header["n_arrays"] < 8:
        raise ValueError("malformed reply header")
    arrays = [np.lib.format.read_array(io.BytesIO(_recv_frame(sock)), allow_pickle=False)
              for _ in range(header["n_arrays"])]
    return header, arrays
