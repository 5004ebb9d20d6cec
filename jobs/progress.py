"""The sweep's progress bars: the input stage's (texts embedded, reported by its Ray tasks through a queue), then the
cells'. Before, one `cells` bar sat at 0% through the whole input stage, the minutes a cold extraction takes."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


class InputsBar:
    """Texts the input-stage tasks embed, as they report them; closed once every input set is ready. With the bar
    off (runtime.progress=false) it has no queue and the tasks report nothing."""

    def __init__(self, enabled: bool):
        self.queue, self.bar, self.done = None, None, False
        if enabled:
            from ray.util.queue import Queue

            self.queue = Queue(actor_options={"num_cpus": 0})  # holds no CPU the extraction could use
            self.bar = tqdm(total=0, desc="inputs", unit="text", file=sys.stdout, mininterval=1.0)

    def poll(self, refs: list) -> bool:
        """Drain the tasks' reports into the bar; True (and the bar closed) once every ref in `refs` is ready."""
        import ray

        if self.done:
            return True
        while self.queue is not None and not self.queue.empty():
            what, done, todo = self.queue.get_nowait()
            if todo:
                self.bar.total += todo
                self.bar.refresh()
            if done:
                self.bar.update(done)
            self.bar.set_postfix_str(what, refresh=False)
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        if len(ready) == len(refs):
            self.close()
        return self.done

    def close(self) -> None:
        self.done = True
        if self.bar is not None:
            self.bar.set_postfix_str("ready" if self.bar.total else "all cached", refresh=False)
            self.bar.close()
        if self.queue is not None:
            self.queue.shutdown()
            self.queue = None


def report_to(queue):
    """The input-stage task's listener (transfer.features.cache.reporting): forwards to the driver's queue; a lost
    queue (driver gone) is not the extraction's problem."""
    def tell(what: str, done: int, todo: int) -> None:
        try:
            queue.put_nowait((what, done, todo))
        except Exception:  # noqa: BLE001 - progress is best effort, the features are what matter
            pass
    return tell
