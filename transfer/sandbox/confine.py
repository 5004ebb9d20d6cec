"""OS confinement of a method process: Linux namespaces, an allow-listed filesystem, then everything that could undo
them dropped. Plain syscalls through ctypes, no extra package.

Called in the freshly forked method process before any method code is imported. In order:
1. new user, mount, PID and network namespaces; fork: the caller goes on as PID 1 of the new PID namespace (every
   process the method starts dies with it);
2. a fresh tmpfs root holding only an allow-list, read-only: the interpreter's prefixes (stdlib, the venv and its
   site-packages), /usr and a few /etc files for the dynamic loader, the packages and modules of the import roots
   (`sys.path` entries outside the prefixes contribute their packages and .py files only: not the checkout's store,
   caches or data), /dev/null and friends, its own /proc, and a private scratch /tmp. Paths the harness names
   (data, $TRANSFER_HOME, the store) are hidden under empty tmpfs should an allowed tree contain them;
3. pivot_root into it and detach the old root;
4. a second, nested user namespace (with its own mount namespace) mapped to uid 65534: every mount of steps 2-3 is
   now locked (MNT_LOCKED), so it can be neither unmounted nor made writable from inside;
5. no capabilities (an empty bounding set too), no_new_privs, not dumpable, and a seccomp filter refusing mount,
   umount, pivot_root, unshare, setns, ptrace, namespace flags to clone and friends (EPERM).
There is no network (a new network namespace whose loopback is down).

`confine` raises `ConfinementRefused` when the kernel refuses a step (containers without user namespaces, non-Linux);
the harness then refuses to run the method unless the config opts in to `runtime.sandbox=process`.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from pathlib import Path

from transfer.errors import ConfinementRefused
from transfer.sandbox import seccomp

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWCGROUP, CLONE_NEWTIME = 0x04000000, 0x08000000, 0x02000000, 0x00000080
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 4, 24, 38, 47
# syscall numbers without a libc wrapper: x86_64, else aarch64 (the generic table)
SYS_PIVOT_ROOT, SYS_CAPSET = (155, 126) if __import__("platform").machine() == "x86_64" else (41, 91)
SYS_MOUNT_SETATTR = 442  # the same on both
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
INNER_UID = 65534  # the method's uid in its nested namespace: not root there either
ETC_FILES = ("ld.so.cache", "ld.so.conf", "localtime", "passwd", "group", "nsswitch.conf", "hosts")
DEV_FILES = ("null", "zero", "full", "random", "urandom")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64)]


_libc = None


def _call(what: str, fn, *args) -> None:
    if fn(*args) != 0:
        err = ctypes.get_errno()
        raise ConfinementRefused(err, f"{what}: {os.strerror(err)}")


def confine(hidden: list[str], extra_code: list[str] = (), max_pids: int | None = None) -> None:
    """Confine this (single-threaded, freshly forked) process. `hidden`: paths never to be seen even inside an
    allowed tree; `extra_code`: further import roots to allow (read-only); `max_pids`: processes the method may
    have at once. Forks once: the caller continues as PID 1
    of a new PID namespace, and its parent only relays the exit status."""
    global _libc
    if not sys.platform.startswith("linux"):
        raise ConfinementRefused(0, f"namespaces need Linux (this is {sys.platform})")
    _libc = _libc or ctypes.CDLL(None, use_errno=True)
    _libc.syscall.restype = ctypes.c_long
    uid, gid = os.getuid(), os.getgid()
    _call("unshare(user, mount, pid, net)", _libc.unshare, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET)
    _map_ids(uid, uid, gid, gid)
    _call("make mounts private", _libc.mount, b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    allowed = allow_list(hidden, extra_code)
    sources = [(p, os.open(p, os.O_PATH | os.O_NOFOLLOW) if not os.path.islink(p) else None) for p in allowed]
    _become_pid_one()
    root = "/tmp"  # any directory will do: the new root is a tmpfs mounted on it, then pivoted to
    _tmpfs(root, "size=4m,mode=0755")
    for d in ("/tmp", "/dev/shm", "/proc"):
        os.makedirs(root + d, exist_ok=True)
    # the scratch first: an allowed import root under /tmp (a Ray Job's working_dir package) is bound on top of it,
    # not shadowed by it
    _tmpfs(root + "/tmp", "size=256m,mode=1777")  # the method's scratch
    _tmpfs(root + "/dev/shm", "size=64m,mode=1777")
    for path, fd in sources:
        _place(root, path, fd)
    for path in _existing(hidden, root):  # an allowed tree that holds data, caches or the store: those stay hidden
        _hide(root + path)
    _call("mount /proc", _libc.mount, b"proc", (root + "/proc").encode(), b"proc", MS_NOSUID | MS_NODEV, None)
    _call("root read-only", _libc.mount, None, root.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID
          | MS_NODEV, None)
    os.chdir(root)
    _call("pivot_root", _libc.syscall, SYS_PIVOT_ROOT, b".", b".")
    _call("detach the old root", _libc.umount2, b".", MNT_DETACH)
    os.chdir("/")
    _max_pids(max_pids)
    _lock()


def _max_pids(n: int | None) -> None:
    """At most n pids in the method's PID namespace (its own pid_max, Linux >= 6.14): a fork bomb stops there.
    RLIMIT_NPROC cannot do it when the harness runs as root (root is exempt)."""
    if n is None:
        return
    try:
        with open("/proc/sys/kernel/pid_max", "w") as f:
            f.write(str(max(int(n), 301)))  # the kernel's minimum
    except OSError:
        pass  # an older kernel: pid_max is global; the limits below and the cell's end still bound it


def allow_list(hidden: list[str], extra_code: list[str] = ()) -> list[str]:
    """Every path bound (read-only) into the method's root: absolute, parents before children, none under another."""
    prefixes = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    paths = [*prefixes, *(os.path.realpath(p) for p in prefixes), "/usr", "/bin", "/lib", "/lib64", "/sbin",
             *(f"/etc/{f}" for f in ETC_FILES), *(f"/dev/{f}" for f in DEV_FILES)]
    covered = [os.path.realpath(p) for p in prefixes]
    for entry in [*sys.path, *extra_code]:
        entry = os.path.abspath(entry or ".")
        if not os.path.isdir(entry) or any(_within(entry, c) or _within(os.path.realpath(entry), c) for c in covered):
            continue
        # an import root that is a checkout or a working directory also holds stores, caches and data: only its
        # packages and modules are allowed
        for name in sorted(os.listdir(entry)):
            p = os.path.join(entry, name)
            if name.endswith(".py") or os.path.isfile(os.path.join(p, "__init__.py")):
                paths += [p, os.path.realpath(p)]
    out: list[str] = []
    for p in sorted({os.path.abspath(p) for p in paths if os.path.lexists(p)}, key=lambda p: (p.count("/"), p)):
        if not any(_within(p, o) and not os.path.islink(o) for o in out) and p != "/":
            out.append(p)
    return out


def _within(p: str, root: str) -> bool:
    return p == root or p.startswith(root.rstrip("/") + "/")


def _place(root: str, path: str, fd: int | None) -> None:
    """Recreate `path` under `root`: a symlink as the same symlink, else a read-only bind of what `fd` opened."""
    target = root + path
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if fd is None:
        os.symlink(os.readlink(path), target)
        return
    is_dir = os.path.isdir(f"/proc/self/fd/{fd}")
    if is_dir:
        os.makedirs(target, exist_ok=True)
    else:
        open(target, "a").close()
    _call(f"bind {path}", _libc.mount, f"/proc/self/fd/{fd}".encode(), target.encode(), None, MS_BIND | MS_REC, None)
    os.close(fd)
    flags = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | (0 if path.startswith("/dev/") else MOUNT_ATTR_NODEV)
    attr = _MountAttr(flags, 0, 0, 0)
    _call(f"{path} read-only", _libc.syscall, SYS_MOUNT_SETATTR, AT_FDCWD, target.encode(), AT_RECURSIVE,
          ctypes.byref(attr), ctypes.sizeof(attr))


def _existing(hidden: list[str], root: str) -> list[str]:
    out = []
    for p in hidden:
        for q in {os.path.abspath(p), os.path.realpath(p)}:
            if q != "/" and os.path.lexists(root + q) and not os.path.islink(root + q) and q not in out:
                out.append(q)
    return [r for r in out if not any(o != r and _within(r, o) for o in out)]


def _hide(path: str) -> None:
    if os.path.isdir(path):
        _tmpfs(path, "size=4k,mode=0555")
    else:  # a file (a sqlite store): an empty file in its place
        _call(f"hide {path}", _libc.mount, b"/dev/null", path.encode(), None, MS_BIND, None)


def _tmpfs(path: str, options: str) -> None:
    _call(f"tmpfs on {path}", _libc.mount, b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options.encode())


def _map_ids(inner_uid: int, outer_uid: int, inner_gid: int, outer_gid: int) -> None:
    try:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
    except PermissionError:  # a nested namespace inherits "deny" from its parent
        pass
    for name, text in (("uid_map", f"{inner_uid} {outer_uid} 1"), ("gid_map", f"{inner_gid} {outer_gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def _lock() -> None:
    """Make the confinement permanent: mounts locked by a nested user namespace, no capabilities, seccomp."""
    uid, gid = os.getuid(), os.getgid()
    _call("unshare(user, mount) to lock the mounts", _libc.unshare, CLONE_NEWUSER | CLONE_NEWNS)
    _map_ids(INNER_UID, uid, INNER_UID, gid)
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last + 1):
        _call(f"drop capability {cap} from the bounding set", _libc.prctl, PR_CAPBSET_DROP, cap, 0, 0, 0)
    _call("clear ambient capabilities", _libc.prctl, PR_CAP_AMBIENT, 4, 0, 0, 0)
    header = struct.pack("=Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = ctypes.create_string_buffer(24)  # effective, permitted, inheritable x 2: all zero
    _call("drop all capabilities", _libc.syscall, SYS_CAPSET, ctypes.c_char_p(header), data)
    _call("no_new_privs", _libc.prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _call("not dumpable", _libc.prctl, PR_SET_DUMPABLE, 0, 0, 0, 0)
    _call("die with the parent", _libc.prctl, PR_SET_PDEATHSIG, 9, 0, 0, 0)  # credentials changed: set again
    seccomp.install(_libc)


def _become_pid_one() -> None:
    """unshare(CLONE_NEWPID) applies to children: fork, continue in the child (PID 1 of the new namespace), and let
    this process wait for it and exit with its status. The child dies with its parent (PDEATHSIG); when PID 1 dies
    the kernel kills every process of its namespace: nothing the method starts outlives its cell."""
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    _call("die with the parent", _libc.prctl, PR_SET_PDEATHSIG, 9, 0, 0, 0)
