"""One driver per study: a lease on the study's parent run, held in MLflow tags with the owner and a heartbeat.

A second `make sweep` / `make replay` on a study another live driver is running would mark that driver's running
cells as orphans and race it for the same cells. It refuses in one line instead, or waits (`runtime.lease_wait`).
A lease whose owner is dead is taken over: on the same host the owner's pid (and its start time) is checked; on
another host, a heartbeat older than `runtime.lease_stale_s` means dead.

MLflow tags have no compare-and-swap, so taking a lease is write, wait, read back: of two drivers that write in
the same instant, both read the same last value and exactly one goes on.
"""

from __future__ import annotations

import socket
import threading
import time

import psutil

from transfer.errors import TransferError

OWNER, HEARTBEAT = "jobs.lease.owner", "jobs.lease.heartbeat"
HEARTBEAT_EVERY_S = 5.0
SETTLE_S = 1.0  # longer than one tag write; the read-back after it decides who holds the lease


class LeaseHeld(TransferError):
    """Another live driver holds the study."""


def _me() -> str:
    p = psutil.Process()
    return f"{socket.gethostname()}:{p.pid}:{p.create_time():.3f}"


def _alive(owner: str, heartbeat: float | None, stale_s: float) -> bool:
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host == socket.gethostname():
        try:
            return f"{psutil.Process(int(pid)).create_time():.3f}" == started  # a reused pid is another process
        except (psutil.NoSuchProcess, ValueError):
            return False
    return heartbeat is not None and time.time() - heartbeat < stale_s


class StudyLease:
    """`with StudyLease(client, parent_run_id, study, wait=False, stale_s=60):` — held for the block."""

    def __init__(self, client, run_id: str, study: str, wait: bool = False, stale_s: float = 60.0):
        self.client, self.run_id, self.study, self.wait, self.stale_s = client, run_id, study, wait, stale_s
        self.me, self._stop = _me(), threading.Event()
        self._beat: threading.Thread | None = None

    def _holder(self) -> tuple[str | None, float | None]:
        tags = self.client.get_run(self.run_id).data.tags
        beat = tags.get(HEARTBEAT)
        return tags.get(OWNER) or None, float(beat) if beat else None

    def acquire(self) -> str | None:
        """Take the lease; return the dead owner it was taken over from, if any."""
        announced, took_over = False, None
        while True:
            owner, beat = self._holder()
            if owner and owner != self.me and _alive(owner, beat, self.stale_s):
                age = f"{time.time() - beat:.0f} s ago" if beat else "never"
                if not self.wait:
                    raise LeaseHeld(f"study {self.study!r} is being run by another driver ({owner}, heartbeat {age}); "
                                    f"wait for it to finish, or pass runtime.lease_wait=true to queue behind it")
                if not announced:
                    print(f"[lease] study {self.study!r} is held by {owner}; waiting", flush=True)
                    announced = True
                time.sleep(HEARTBEAT_EVERY_S)
                continue
            if owner and owner != self.me:
                took_over = owner
            self.client.set_tag(self.run_id, OWNER, self.me)
            self.client.set_tag(self.run_id, HEARTBEAT, f"{time.time():.3f}")
            time.sleep(SETTLE_S)
            if self._holder()[0] == self.me:
                break
        self._beat = threading.Thread(target=self._heartbeat, name="study-lease", daemon=True)
        self._beat.start()
        return took_over

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY_S):
            try:
                self.client.set_tag(self.run_id, HEARTBEAT, f"{time.time():.3f}")
            except Exception:  # noqa: BLE001  (a missed beat is not fatal; the next one retries)
                continue

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=10)
        try:
            if self._holder()[0] == self.me:
                self.client.delete_tag(self.run_id, OWNER)
                self.client.delete_tag(self.run_id, HEARTBEAT)
        except Exception:  # noqa: BLE001  (the store went away: the lease goes stale and is taken over)
            pass

    def __enter__(self):
        took_over = self.acquire()
        if took_over:
            print(f"[lease] took over study {self.study!r} from a driver that is gone ({took_over})", flush=True)
        return self

    def __exit__(self, *exc):
        self.release()
