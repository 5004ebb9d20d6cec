"""The confinement itself (transfer/sandbox/confine.py), below any method: a forked process confines itself and
then tries to undo it with raw syscalls. Fast (no cell)."""

from __future__ import annotations

import ctypes
import json
import os

import pytest

from transfer import paths
from transfer.sandbox import confine, seccomp

MNT_DETACH, MS_REMOUNT, MS_BIND = 2, 32, 4096


def _in_confined_child(probe, with_seccomp: bool = True) -> dict:
    """Fork, confine (hiding the data, the home and the store), run `probe(libc)`; its dict comes back as JSON."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover  (the child)
        os.close(r)
        try:
            if not with_seccomp:
                seccomp.install = lambda libc: None
            confine.confine([str(paths.shared_data_dir()), str(paths.home()), str(paths.repo_root() / "mlruns.db")])
            out = probe(ctypes.CDLL(None, use_errno=True))
        except BaseException as exc:  # noqa: BLE001
            out = {"error": f"{type(exc).__name__}: {exc}"}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def _undo(libc) -> dict:
    """As an attacker would: a new user namespace first (full capabilities in it), then unmount and remount."""
    caps = [line.split()[1] for line in open("/proc/self/status") if line.startswith(("CapEff", "CapBnd"))]
    uid = os.getuid()
    userns = libc.unshare(0x10000000 | 0x00020000) == 0
    mounts = [line.split()[4] for line in open("/proc/self/mountinfo")]
    undone = sum(libc.umount2(m.encode(), MNT_DETACH) == 0 for m in sorted(mounts, key=len, reverse=True))
    remount = libc.mount(None, b"/", None, MS_REMOUNT | MS_BIND, None) == 0
    return {"mounts": len(mounts), "undone": undone, "remount": remount, "userns": userns, "caps": caps,
            "uid": uid, "root": sorted(os.listdir("/"))}


@pytest.mark.parametrize("with_seccomp", [True, False])
def test_the_mounts_cannot_be_undone(with_seccomp):
    """Without the seccomp filter too: even from a further user namespace of its own (where it has every
    capability again), the mounts locked by the nested user namespace can be neither unmounted nor remounted."""
    got = _in_confined_child(_undo, with_seccomp)
    assert "error" not in got, got["error"]
    assert got["mounts"] > 5 and got["undone"] == 0 and not got["remount"]
    assert got["caps"] == ["0000000000000000", "0000000000000000"] and got["uid"] == confine.INNER_UID
    # the root holds the allow-list's top folders only (the interpreter's prefix decides the last few)
    assert {"dev", "etc", "proc", "tmp", "usr"} <= set(got["root"]) and not {"var", "srv", "mnt", "boot"} & set(got["root"])
    assert got["userns"] != with_seccomp  # with the filter, refused outright


def test_only_the_allow_list_is_visible():
    repo, data, home = paths.repo_root(), paths.shared_data_dir(), paths.home()  # before: conf/ is not there

    def probe(libc) -> dict:
        seen = lambda p: os.path.exists(p)  # noqa: E731
        return {"data": seen(str(data)), "home": seen(str(home)),
                "store": seen(str(repo / "mlruns.db")), "dot_transfer": seen(str(repo / ".transfer")),
                "conf": seen(str(repo / "conf")), "package": seen(str(repo / "transfer" / "scoring.py")),
                "etc_shadow": seen("/etc/shadow"), "var": seen("/var"),
                "write_tmp": bool(open("/tmp/x", "w").write("1")),
                "write_package": _fails(lambda: open(str(repo / "transfer" / "x.py"), "w")),
                "net": _fails(lambda: __import__("socket").create_connection(("127.0.0.1", 22), timeout=1))}
    got = _in_confined_child(probe)
    assert "error" not in got, got["error"]
    assert got == {"data": False, "home": False, "store": False, "dot_transfer": False, "conf": False,
                   "package": True, "etc_shadow": False, "var": False, "write_tmp": True, "write_package": True,
                   "net": True}


def _fails(fn) -> bool:
    try:
        fn()
    except OSError:
        return True
    return False


def test_the_seccomp_program_refuses_what_it_lists():
    prog = seccomp.program()
    refused = {ins[3] for ins in prog if ins[0] == seccomp.JEQ_K}
    assert set(seccomp.REFUSED.values()) <= refused and seccomp.CLONE in refused and seccomp.PRCTL in refused
    assert prog[-1] == (seccomp.RET_K, 0, 0, seccomp.RET_ALLOW) and len(prog) < 4096
