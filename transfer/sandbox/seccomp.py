"""A seccomp filter for the method process (x86_64), as a raw BPF program: no extra package.

The nested user namespace already locks the mounts (transfer.sandbox.confine); this refuses (EPERM) the syscalls a
method would need to try anyway: mounting and unmounting, pivot_root/chroot, new namespaces (unshare, setns, clone
with namespace flags), ptrace and cross-process memory, kernel keyrings, bpf, perf, userfaultfd, io_uring (whose
operations seccomp does not see), modules and kexec, and clearing its parent-death signal (which would let it
outlive its cell). clone3 answers ENOSYS, so libc falls back to clone, whose flags the filter can read.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform

from transfer.errors import ConfinementRefused

AUDIT_ARCH_X86_64 = 0xC000003E
RET_ALLOW, RET_KILL_PROCESS, RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
LD_ABS_W, JEQ_K, JSET_K, JGE_K, RET_K = 0x20, 0x15, 0x45, 0x35, 0x06
PR_SET_SECCOMP, SECCOMP_MODE_FILTER, PR_SET_PDEATHSIG = 22, 2, 1
CLONE, CLONE3, PRCTL = 56, 435, 157
NS_FLAGS = 0x7E020080  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
REFUSED = {  # x86_64 numbers
    "ptrace": 101, "pivot_root": 155, "chroot": 161, "acct": 163, "mount": 165, "umount2": 166, "swapon": 167,
    "swapoff": 168, "reboot": 169, "init_module": 175, "delete_module": 176, "quotactl": 179, "kexec_load": 246,
    "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320, "bpf": 321,
    "userfaultfd": 323, "io_uring_setup": 425, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "pidfd_getfd": 438, "mount_setattr": 442,
}


class _Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_Filter))]


def program() -> list[tuple[int, int, int, int]]:
    eperm = RET_ERRNO | errno.EPERM
    prog = [(LD_ABS_W, 0, 0, 4), (JEQ_K, 1, 0, AUDIT_ARCH_X86_64), (RET_K, 0, 0, RET_KILL_PROCESS),
            (LD_ABS_W, 0, 0, 0), (JGE_K, 0, 1, 0x40000000), (RET_K, 0, 0, RET_KILL_PROCESS)]  # no x32 ABI detour
    for nr in sorted(REFUSED.values()):
        prog += [(JEQ_K, 0, 1, nr), (RET_K, 0, 0, eperm)]
    prog += [(JEQ_K, 0, 1, CLONE3), (RET_K, 0, 0, RET_ERRNO | errno.ENOSYS),
             (JEQ_K, 0, 3, CLONE), (LD_ABS_W, 0, 0, 16), (JSET_K, 0, 5, NS_FLAGS), (RET_K, 0, 0, eperm),
             (JEQ_K, 0, 3, PRCTL), (LD_ABS_W, 0, 0, 16), (JEQ_K, 0, 1, PR_SET_PDEATHSIG), (RET_K, 0, 0, eperm),
             (RET_K, 0, 0, RET_ALLOW)]
    return prog


_FPROG: _Prog | None = None  # built once, in the zygote (transfer.sandbox.zygote imports this module)
X86_64 = platform.machine() == "x86_64"


def compiled() -> _Prog:
    global _FPROG
    if _FPROG is None:
        prog = program()
        filters = (_Filter * len(prog))(*[_Filter(*ins) for ins in prog])
        _FPROG = _Prog(len(prog), filters)
        _FPROG._keep = filters  # the array must outlive the struct that points at it
    return _FPROG


def install(libc) -> None:
    """Install the filter on this process (and every process it starts). Needs no_new_privs set first. Other
    architectures go without it (their syscall numbers differ)."""
    if not X86_64:  # the locked mounts and dropped capabilities hold without it
        return  # (tests/adversarial/test_confine.py runs the undo attempts with the filter off)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(compiled()), 0, 0) != 0:
        err = ctypes.get_errno()
        raise ConfinementRefused(err, f"seccomp filter: {os.strerror(err)}")
