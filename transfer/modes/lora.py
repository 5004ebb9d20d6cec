"""Training mode `lora`: fine-tune the strong causal LM with LoRA (transformers + peft) to emit the label token,
evaluated by label-token log-probs of the fine-tuned model.

Ceiling: LoRA on the gold labels of train_unlabel. Student: LoRA on the method's targets (weak labels for vanilla).
Both start from the same base weights and adapter seed, train for a fixed number of epochs (no early stopping, no
selection on test) on the prompt in (A, B) order, and are scored on both orders. The loss is the cross-entropy of
the soft target over the two label tokens' full-vocabulary log-probs at the prompt's last position.
"""

from __future__ import annotations

import numpy as np
import torch

from transfer.errors import ConfigError
from transfer.label_tokens import LABELS, label_logprobs, single_token_ids
from transfer.models import resolve_path
from transfer.modes import ModeInputs, ModeOutput
from transfer.modes.lm import diag_positions, score_split
from transfer.modes.prompts import oriented_prompts


class LoraLM:
    """One LoRA-adapted copy of the strong causal LM, with training and label scoring."""

    def __init__(self, model_cfg: dict, mode: dict, seed: int):
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = resolve_path(model_cfg)
        self.device = mode.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.tok = AutoTokenizer.from_pretrained(path)
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.tok.padding_side, self.tok.truncation_side = "right", "left"  # keep the closing "Label:"
        self.label_ids = single_token_ids(lambda t: self.tok(t, add_special_tokens=False)["input_ids"], LABELS,
                                          model_cfg["name"])
        torch.manual_seed(seed)  # the adapter's initialisation
        base = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(self.device)
        cfg = LoraConfig(r=int(mode["r"]), lora_alpha=int(mode["alpha"]), lora_dropout=float(mode["dropout"]),
                         target_modules=list(mode["target_modules"]), task_type="CAUSAL_LM")
        self.model = get_peft_model(base, cfg)
        self.max_tokens = int(mode["max_tokens"])

    def _label_logprobs(self, prompts: list[str]) -> torch.Tensor:
        enc = self.tok(prompts, padding=True, truncation=True, max_length=self.max_tokens,
                       return_tensors="pt").to(self.device)
        logits = self.model(**enc).logits
        last = logits[torch.arange(logits.shape[0]), enc["attention_mask"].sum(1) - 1]
        return label_logprobs(last, self.label_ids)  # float32: the training loss backpropagates through it

    def train(self, prompts: list[str], targets: np.ndarray, *, epochs: int, lr: float, batch_size: int,
              seed: int) -> float:
        self.model.train()
        opt = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=lr)
        y = torch.tensor(np.asarray(targets, dtype=np.float32), device=self.device)
        gen = torch.Generator().manual_seed(seed)
        loss = torch.tensor(float("nan"))
        for _ in range(epochs):
            for batch in torch.randperm(len(prompts), generator=gen).split(batch_size):
                lp = self._label_logprobs([prompts[i] for i in batch])
                t = y[batch.to(self.device)]
                loss = -(t * lp[:, 0] + (1 - t) * lp[:, 1]).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.model.eval()
        return loss.item()

    @torch.inference_mode()
    def score(self, prompts: list[str], batch_size: int = 16) -> np.ndarray:
        return np.concatenate([self._label_logprobs(prompts[i:i + batch_size]).double().cpu().numpy()
                               for i in range(0, len(prompts), batch_size)])


def run(m: ModeInputs) -> ModeOutput:
    mode, s, seed = m.cell["mode"], m.cell["setting"], int(m.cell["seeds"]["student"])
    if s["strong_backend"]["name"] != "hf":
        raise ConfigError(f"mode lora evaluates in-process with transformers + peft; strong_backend="
                          f"{s['strong_backend']['name']!r} cannot load the adapter yet (use strong_backend=hf)")
    if s["strong"]["kind"] != "causal_lm":
        raise ConfigError(f"mode lora needs a causal LM; {s['strong']['name']} is an encoder")
    fmt, orders, tu = mode["format"], int(mode["orders"]), m.train_unlabel
    rng = np.random.default_rng([seed, 0x10A])
    cap = mode.get("max_train_pairs")
    sub = np.sort(rng.choice(len(tu), size=cap, replace=False)) if cap and cap < len(tu) else np.arange(len(tu))
    index, targets = m.method.targets(m.view)
    keep = np.isin(index, sub)  # the same subset of train_unlabel for ceiling and student
    train = {"ceiling": (sub, tu.a_is_better[sub].astype(np.float32)), "w2s": (index[keep], targets[keep])}
    out = ModeOutput(ceiling={}, w2s={}, diag_index=diag_positions(len(tu), mode.get("diag_pairs"), seed))
    for role, (pos, y) in train.items():
        if len(pos) == 0:
            raise ConfigError(f"mode lora: the {role} has no training pairs (max_train_pairs={cap})")
        lm = LoraLM(s["strong"], mode, seed)
        prompts = oriented_prompts(m.pairs, tu.index[pos], tu.a_is_better[pos], fmt)
        final = lm.train(prompts, y, epochs=int(mode["epochs"]), lr=float(mode["lr"]),
                         batch_size=int(mode["batch_size"]), seed=seed)
        out.diagnostics[f"{role}_final_loss"], out.diagnostics[f"{role}_train_pairs"] = final, len(pos)
        probs = getattr(out, role)
        probs["test"] = score_split(lm.score, m.pairs, m.test, fmt, orders)
        if m.ood is not None:
            probs["ood"] = score_split(lm.score, m.ood_pairs, m.ood, fmt, orders)
        if role == "w2s":
            probs["train_unlabel"] = score_split(lm.score, m.pairs, tu, fmt, orders, index=out.diag_index)
        del lm
    return out
