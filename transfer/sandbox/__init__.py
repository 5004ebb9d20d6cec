"""Method code in its own process (docs/replay.md, "Evaluation boundary").

The harness never runs a method's code in its own interpreter. Per cell it forks a fresh *method process* from a
zygote (a clean interpreter with numpy/torch imported and no study data in it), confines that process with Linux
namespaces where the platform allows it, sends it the `StudentView`, and reads back only arrays and JSON — never a
pickle — which it validates and scores itself. Whatever the method does to its own interpreter (monkeypatching,
writable views, patched numpy, ctypes) stays in a process that exits with the cell.

* `wire`: the frames between harness and method process (harness -> method: pickle; method -> harness: JSON + .npy).
* `confine`: the OS confinement of a method process (user, mount, network and PID namespaces).
* `zygote`: the clean interpreter that forks method processes.
* `worker`: the method process's side: load the plugin, run fit/targets/predict_proba behind the audit hook.
* `client`: the harness's side: `method_process(cell)` gives a proxy the training modes use like a `Method`.
"""
