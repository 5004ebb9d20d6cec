"""ADVERSARIAL method plugins written as a capable attacker would (issue 25): undo the confinement, read gold from
the feature cache, write the store or the checkout, outlive the cell, forge the confinement report, attack from
import and __init__, crash the driver with malformed replies, hang the call, exhaust memory and processes.

Each swallows its failures and records what it achieved in its diagnostics (tests/adversarial/test_escapes.py
asserts every count is 0, or that the cell fails with a boundary error). Paths come from the method's config
(`cfg`): the tests pass the real data file, feature cache, store and checkout of the cell.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import time

import numpy as np

from tests.adversarial.plugins import _vanilla
from transfer.methods.base import Method

MNT_DETACH, MS_REMOUNT, MS_BIND = 2, 32, 4096
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000


def spawn(argv: list[str], setsid: bool = True) -> int:
    """Start a process through _posixsubprocess.fork_exec: below subprocess.Popen, so no audit event is raised."""
    import _posixsubprocess
    r, w = os.pipe()
    try:
        return _posixsubprocess.fork_exec([a.encode() for a in argv], [argv[0].encode()], True, (w,), None, None,
                                          -1, -1, -1, -1, -1, -1, r, w, True, setsid, -1, None, None, None, -1,
                                          None, False)
    finally:
        os.close(r)
        os.close(w)


def _try(fn) -> float:
    try:
        return float(bool(fn()))
    except Exception:  # noqa: BLE001  (an attacker hides its failures)
        return 0.0


def _readable(path: str) -> bool:
    if os.path.isdir(path):
        return bool(os.listdir(path))
    with open(path, "rb") as f:
        return bool(f.read(16))


def libc_open(path: str, flags: int = os.O_RDONLY) -> int:
    """open(2) through ctypes: no audit event, so only the OS confinement can stop it. The fd, or -1."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.open(path.encode(), flags, 0o644)
    if fd >= 0:
        os.close(fd)
    return fd


class UndoesConfinement(Method):
    """Unmounts what hides the host (every mount point, deepest first, MNT_DETACH), remounts / read-write, tries
    a fresh user namespace to regain capabilities, then opens the data, the feature cache and the store, and
    creates a canary file (cfg: data, cache, store, canary), all with libc's open(2): below the audit hook."""

    def fit(self, view):
        libc = ctypes.CDLL(None, use_errno=True)
        mounts = [line.split()[4] for line in open("/proc/self/mountinfo")]
        undone = libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0  # every capability again, in a namespace of its own
        for _ in range(2):
            for m in sorted(mounts, key=len, reverse=True):
                undone += libc.umount2(m.encode(), MNT_DETACH) == 0
        undone += libc.mount(None, b"/", None, MS_REMOUNT | MS_BIND, None) == 0
        self.diagnostics.update(undone=float(undone), saw_data=float(libc_open(self.cfg["data"]) >= 0),
                                saw_cache=float(libc_open(self.cfg["cache"], os.O_RDONLY | os.O_DIRECTORY) >= 0),
                                saw_store=float(libc_open(self.cfg["store"]) >= 0),
                                wrote=float(libc_open(self.cfg["canary"], os.O_WRONLY | os.O_CREAT) >= 0))
        return _vanilla(view)


class ReadsCacheGold(Method):
    """Rebuilds gold from the feature cache: loads every shard it can find under cfg.cache (plain np.load) and
    counts the rows it read."""

    def fit(self, view):
        rows = 0
        for root, _, files in os.walk(self.cfg["cache"]):
            for name in files:
                if name.endswith(".npy"):
                    with contextlib.suppress(Exception):
                        rows += len(np.load(os.path.join(root, name)))
        self.diagnostics["cache_rows"] = float(rows)
        return _vanilla(view)


class WritesStore(Method):
    """Writes the tracking store: the tracking URI from its own /proc/self/environ (only os.environ used to be
    scrubbed), then the sqlite file opened read-write and truncated (cfg.store), through libc (cfg.via=libc:
    below the audit hook) or Python's os module."""

    def fit(self, view):
        env = _try(lambda: any(k in open("/proc/self/environ", "rb").read() for k in (b"MLFLOW_", b"TRANSFER_")))
        if self.cfg.get("via") == "libc":
            opened = float(libc_open(self.cfg["store"], os.O_RDWR) >= 0)
            truncated = float(libc_open(self.cfg["store"], os.O_WRONLY | os.O_TRUNC) >= 0)
        else:
            opened = _try(lambda: os.close(os.open(self.cfg["store"], os.O_RDWR)) or True)
            truncated = _try(lambda: os.truncate(self.cfg["store"], 0) or True)
        self.diagnostics.update(env_leak=env, opened=opened, truncated=truncated)
        return _vanilla(view)


class WritesCheckout(Method):
    """Opens the harness's own source for writing (appends nothing: the test must not damage the checkout) and
    plants a .pyc beside it (cfg.target, cfg.pyc)."""

    def fit(self, view):
        opened = _try(lambda: os.close(os.open(self.cfg["target"], os.O_WRONLY | os.O_APPEND)) or True)
        planted = _try(lambda: os.close(os.open(self.cfg["pyc"], os.O_WRONLY | os.O_CREAT, 0o644)) or True)
        self.diagnostics.update(opened=opened, planted=planted)
        return _vanilla(view)


class OutlivesCell(Method):
    """Leaves a daemon behind: a detached (setsid) shell that double-forks a long sleep."""

    def fit(self, view):
        self.diagnostics["spawned"] = _try(lambda: spawn(["/bin/sh", "-c", "(sleep 300 &) ; exit 0"]) > 0)
        time.sleep(0.3)  # the daemon is running when the cell ends
        return _vanilla(view)


class ForkBomb(Method):
    """Starts as many long-lived processes as it can (cfg.n), counting the ones the kernel allowed."""

    def fit(self, view):
        n = 0
        for _ in range(int(self.cfg.get("n", 350))):
            try:
                spawn(["/bin/sleep", "300"], setsid=False)
                n += 1
            except OSError:
                break
        self.diagnostics["started"] = float(n)
        return _vanilla(view)


class HogsMemory(Method):
    """Allocates (and touches) cfg.gib GiB."""

    def fit(self, view):
        got = 0.0
        with contextlib.suppress(MemoryError):
            block = np.ones(int(self.cfg.get("gib", 6)) << 27)  # float64: 8 bytes each
            got = float(block.nbytes >> 30)
        self.diagnostics["allocated_gib"] = got
        return _vanilla(view)


class HugeReply(Method):
    """Answers predict_proba with cfg.gib GiB of probabilities, hoping the harness allocates it."""

    def fit(self, view):
        gib = float(self.cfg.get("gib", 1))
        return type("Huge", (), {"predict_proba": lambda s, x: np.full(int(gib * (1 << 27)), 0.5)})()


class ForgesConfinement(Method):
    """Claims OS confinement it does not have: a fake hello and fake replies onto every socket it holds."""

    confinement = "namespaces"

    def __init__(self, cfg):
        super().__init__(cfg)
        import json
        import socket
        import struct
        fake = json.dumps({"ok": True, "confined": "namespaces", "confinement": "namespaces", "modes": ["head"],
                           "needs": [], "kinds": ["pairwise"], "n_arrays": 0}).encode()
        for fd in range(3, 64):
            with contextlib.suppress(OSError):
                socket.socket(fileno=os.dup(fd)).sendall(struct.pack("!Q", len(fake)) + fake)

    def fit(self, view):
        return _vanilla(view)


class MalformedDiagnostics(Method):
    """Diagnostics no tracking store accepts: bad characters, 300-character keys, NaN, strings, a nested dict."""

    def fit(self, view):
        self.diagnostics.update({"x!": 1.0, "k" * 300: 2.0, "not_finite": float("nan"), "text": "hello",
                                 "nested": {"a": 1}, "fine": 0.5})
        return _vanilla(view)


class DripsReply(Method):
    """Holds the harness on one call: a reply header promised, then one byte every 0.4 s (each receive alone is
    well within any per-receive timeout)."""

    def fit(self, view):
        import socket
        import struct
        for fd in range(3, 64):
            with contextlib.suppress(OSError):
                s = socket.socket(fileno=os.dup(fd))
                if s.family != socket.AF_UNIX:
                    continue
                s.sendall(struct.pack("!Q", 64))
                for _ in range(100):
                    s.sendall(b" ")
                    time.sleep(0.4)
        return _vanilla(view)


class SleepsInInit(Method):
    """Never finishes loading: __init__ sleeps (a sweep asks every method what it needs before any cell runs)."""

    def __init__(self, cfg):
        super().__init__(cfg)
        time.sleep(float(cfg.get("sleep_s", 600)))

    def fit(self, view):
        return _vanilla(view)


class AttacksInInit(Method):
    """Does its damage in __init__, before any guarded call: starts a process and opens the data file."""

    def __init__(self, cfg):
        super().__init__(cfg)
        with contextlib.suppress(Exception):
            open(cfg["data"]).read(1)
        with contextlib.suppress(Exception):
            if os.fork() == 0:
                os._exit(0)

    def fit(self, view):
        return _vanilla(view)
