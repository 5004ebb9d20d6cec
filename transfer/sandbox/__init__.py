"""Method code in its own process (docs/replay.md, "Evaluation boundary").

The harness never runs a method's code in its own interpreter. Per cell it forks a fresh *method process* from a
zygote (a clean interpreter with numpy/torch imported and no study data in it), confines that process with Linux
namespaces it cannot undo (or refuses to run it, unless the config opts in to `runtime.sandbox=process` for
trusted code), sends it the `StudentView`, and reads back only arrays and JSON — never a pickle — which it
validates and scores itself. Whatever the method does to its own interpreter (monkeypatching, writable views,
patched numpy, ctypes) stays in a process that exits, with everything it started, when the cell ends.

* `wire`: the frames between harness and method process (harness -> method: pickle; method -> harness: JSON + .npy),
  with one deadline per reply and size limits checked before allocation.
* `confine`: the OS confinement (user, mount, network and PID namespaces; an allow-listed read-only root; locked by
  a nested user namespace; no capabilities). `seccomp`: its syscall filter.
* `zygote`: the clean interpreter that forks method processes.
* `worker`: the method process's side: confine, load the plugin, run its code behind the audit hook.
* `client`: the harness's side: `method_process(cell)` gives a proxy the training modes use like a `Method`.
* `replies`: what the harness accepts back (diagnostics, reply sizes). `reap`: what a method left running.
"""
