"""OS confinement of a method process: Linux user, mount, network and PID namespaces, set up with plain syscalls.

Called in the freshly forked method process before any method code is imported. Afterwards the process:
* has no capabilities outside its own user namespace (it cannot ptrace, signal or read the memory of the harness,
  the zygote, Ray or any other process: they are not even in its PID namespace, and /proc is its own);
* sees the whole filesystem read-only, and the data folders, the harness home (features, log-prob caches, models),
  the tracking store, /dev/shm (Ray's object store) as empty tmpfs; /tmp is a private scratch tmpfs;
* has no network (a new network namespace with only a loopback that is down);
* cannot regain privileges (no_new_privs) and is not dumpable.

`confine` raises `ConfinementRefused` when the kernel refuses a namespace (containers without user namespaces,
non-Linux); the caller then falls back to the process boundary plus the audit hook and says so.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 0x1  # x86_64 and aarch64


class ConfinementRefused(OSError):
    """The platform refused a namespace or mount the confinement needs."""


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64)]


_libc = None


def _call(what: str, fn, *args) -> None:
    if fn(*args) != 0:
        err = ctypes.get_errno()
        raise ConfinementRefused(err, f"{what}: {os.strerror(err)}")


def confine(hidden: list[str]) -> None:
    """Confine this (single-threaded, freshly forked) process; `hidden` paths become empty. Forks once more: the
    caller continues as PID 1 of a new PID namespace, and its parent only relays the exit status."""
    global _libc
    if not sys.platform.startswith("linux"):
        raise ConfinementRefused(0, f"namespaces need Linux (this is {sys.platform})")
    _libc = _libc or ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    _call("unshare(user, mount, pid, net)", _libc.unshare, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET)
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    _call("make mounts private", _libc.mount, b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    # code the method must import may live under /tmp (a Ray Job's working_dir): kept, read-only, under the new /tmp
    keep = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in _code_under_tmp()]
    _read_only(b"/")
    _tmpfs("/tmp", "size=256m,mode=1777")  # scratch space the method may write
    for path, fd in keep:
        os.makedirs(path, exist_ok=True)
        _call(f"keep {path}", _libc.mount, f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC, None)
        _read_only(path.encode())
        os.close(fd)
    for path in _existing(hidden + ["/dev/shm"]):  # after the binds: what is hidden inside kept code stays hidden
        _hide(path)
    _become_pid_one()
    _call("mount /proc", _libc.mount, b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV, None)
    _call("no_new_privs", _libc.prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _call("not dumpable", _libc.prctl, PR_SET_DUMPABLE, 0, 0, 0, 0)


def _read_only(path: bytes) -> None:
    attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    _call(f"remount {path.decode()} read-only", _libc.syscall, SYS_MOUNT_SETATTR, AT_FDCWD, path, AT_RECURSIVE,
          ctypes.byref(attr), ctypes.sizeof(attr))


def _code_under_tmp() -> list[str]:
    """Import roots (sys.path) under /tmp, outermost first."""
    tmp, out = Path("/tmp").resolve(), []
    for entry in sys.path:
        try:
            p = Path(entry or ".").resolve()
        except OSError:
            continue
        if tmp in p.parents and p.is_dir() and not any(Path(o) in p.parents or Path(o) == p for o in out):
            out.append(str(p))
    return out


def _existing(paths: list[str]) -> list[Path]:
    out = []
    for p in paths:
        try:
            r = Path(p).resolve()
        except OSError:
            continue
        if r.exists() and r != Path("/") and r not in out:
            out.append(r)
    # a path under another hidden one is hidden with it (and no longer exists to mount on)
    return [r for r in out if not any(o in r.parents for o in out)]


def _hide(path: Path) -> None:
    if path.is_dir():
        _tmpfs(str(path), "size=1m,mode=0555")
    else:  # a file (the sqlite store): an empty file in its place
        _call(f"hide {path}", _libc.mount, b"/dev/null", str(path).encode(), None, MS_BIND, None)


def _tmpfs(path: str, options: str) -> None:
    _call(f"tmpfs on {path}", _libc.mount, b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options.encode())


def _become_pid_one() -> None:
    """unshare(CLONE_NEWPID) applies to children: fork, continue in the child (PID 1 of the new namespace), and let
    this process wait for it and exit with its status. The child dies with its parent (PDEATHSIG)."""
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    _call("die with the parent", _libc.prctl, PR_SET_PDEATHSIG, 9, 0, 0, 0)
