"""Training mode `prompt`: the strong causal LM, zero-shot or few-shot, scored by label-token log-probs through the
strong backend (transformers in-process, or a vLLM server).

Student: `shots` demonstrations drawn from the method's targets on train_unlabel (weak labels for vanilla; never
gold), balanced between A and B, most confident first. Ceiling: `ceiling_shots` demonstrations of train_unlabel with
their gold labels, the same prompt otherwise. shots = 0 is zero-shot (the method is then not consulted).
"""

from __future__ import annotations

import numpy as np

from transfer.backends import load_backend
from transfer.modes import ModeInputs, ModeOutput
from transfer.modes.lm import balanced_pick, demonstrations, diag_positions, score_split
from transfer.label_tokens import LABELS


def run(m: ModeInputs) -> ModeOutput:
    mode, s, seed = m.cell["mode"], m.cell["setting"], int(m.cell["seeds"]["student"])
    fmt, orders, tu = mode["format"], int(mode["orders"]), m.train_unlabel
    diagnostics: dict[str, float] = {"shots": int(mode["shots"])}
    student_prefix = ""
    if int(mode["shots"]) > 0:
        index, targets = m.method.targets(m.view)  # positions in the view = positions in train_unlabel
        pick = balanced_pick(targets, np.abs(np.asarray(targets) - 0.5), int(mode["shots"]), seed)
        student_prefix = demonstrations(m.pairs, tu, index[pick], targets[pick], fmt)
        diagnostics["demo_label_a_fraction"] = float((targets[pick] > 0.5).mean())
    gold = tu.a_is_better.astype(np.float32)
    gold_pick = balanced_pick(gold, np.random.default_rng([seed, 0xC311]).random(len(tu)), int(mode["ceiling_shots"]),
                              seed)
    ceiling_prefix = demonstrations(m.pairs, tu, gold_pick, gold[gold_pick], fmt)

    with load_backend(s["strong_backend"], s["strong"]) as backend:
        def score(prompts):
            return backend.label_logprobs(prompts, LABELS)

        out = ModeOutput(ceiling={}, w2s={}, diag_index=diag_positions(len(tu), mode.get("diag_pairs"), seed),
                         diagnostics=diagnostics)
        for role, prefix in (("ceiling", ceiling_prefix), ("w2s", student_prefix)):
            getattr(out, role)["test"] = score_split(score, m.pairs, m.test, fmt, orders, prefix)
            if m.ood is not None:
                getattr(out, role)["ood"] = score_split(score, m.ood_pairs, m.ood, fmt, orders, prefix)
        out.w2s["train_unlabel"] = score_split(score, m.pairs, tu, fmt, orders, student_prefix, out.diag_index)
    return out
