"""A study's writes on a thread of their own: the sweep hands a finished cell over and goes back to its cells.

Writing one cell's run through MLflow's client is five round trips to the store (create, log_batch, log_inputs,
log_artifacts, set_terminated; tens of ms on sqlite). Here they happen in the order the cells were handed over, one
at a time, while the driver waits on its next cell. `flush()` returns once every write handed over has landed: the
driver flushes before it closes the study's parent run. A write that fails is reported back (`failures()`), with
what its fallback (e.g. a FAILED run with the error) did. A driver killed meanwhile loses what was still queued:
those cells have no run, or a RUNNING one that the next run of the study marks FAILED, and run again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class BackgroundWriter:
    def __init__(self, name: str = "store-writer"):
        self._queue: queue.Queue = queue.Queue()
        self._failures: list[tuple[object, BaseException]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, name=name, daemon=True)
        self._thread.start()

    def put(self, write: Callable[[], object], what: object = None,
            fallback: Callable[[BaseException], object] | None = None) -> None:
        """Run `write()` after every write put before it; if it raises, record (what, error) and run `fallback`."""
        if not self._thread.is_alive():
            raise RuntimeError("the store's background writer is closed")
        self._queue.put((write, what, fallback))

    def failures(self) -> list[tuple[object, BaseException]]:
        """The writes that failed since the last call: (what, error), in order."""
        with self._lock:
            out, self._failures = self._failures, []
        return out

    def flush(self) -> None:
        """Wait until every write put so far has been made (or has failed)."""
        self._queue.join()

    def close(self) -> None:
        """Flush, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                write, what, fallback = item
                try:
                    write()
                except Exception as exc:  # noqa: BLE001  (reported to the driver, which decides)
                    with self._lock:
                        self._failures.append((what, exc))
                    if fallback is not None:
                        try:
                            fallback(exc)
                        except Exception:  # noqa: BLE001  (the failure itself is already reported)
                            pass
            finally:
                self._queue.task_done()
