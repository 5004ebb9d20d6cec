"""The method contract: what a W2S method receives, what it returns, what it never touches.

A method gets a `StudentView`: strong-model inputs of the `train_unlabel` pairs (or, for task kind `binary`, items)
and the weak teacher's soft labels.
The view has no gold labels (the type simply does not carry them), no test or OOD inputs, no tracking store and no
data paths. The method returns a `Predictor`; the harness alone applies it to the test and OOD inputs and scores it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from transfer.errors import ConfigError


@dataclass(frozen=True)
class StudentView:
    x: np.ndarray  # (n, dim) strong inputs: f(A) − f(B) of train_unlabel pairs; f(text) of binary items
    strong_a: np.ndarray | None  # (n, dim) f(A), for methods that list "sides" in `needs` (contrast-consistent
    strong_b: np.ndarray | None  # probes); f(B). None otherwise, and for binary items: they have no sides
    weak_probs: np.ndarray  # (n,) the weak teacher's P(A is better) (binary: P(label = 1))
    example_ids: tuple[str, ...]
    seed: int  # the student seed
    head: dict = field(default_factory=dict)  # head training settings: epochs, lr, l2, batch_size
    # (n, 2, 2) the strong LM's zero-shot log P(" A"), log P(" B") with the pair shown as (A, B) [order 0] and
    # swapped, B shown first [order 1]; computed by the harness only for methods that list "zero_shot" in `needs`
    zero_shot: np.ndarray | None = None
    kind: str = "pairwise"  # the task kind: "pairwise" or "binary"

    def __post_init__(self):
        for arr in (self.x, self.strong_a, self.strong_b, self.weak_probs, self.zero_shot):
            if arr is not None:
                arr.setflags(write=False)  # a method cannot alter what the harness later scores against


class Predictor(Protocol):
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """P(A is better) for pair inputs x = f(A) − f(B); P(label = 1) for binary inputs x = f(text)."""


class Method(ABC):
    """One file in transfer/methods/ (or anywhere, named by `impl:` in its yaml) + one conf/method/<name>.yaml."""

    modes: tuple[str, ...] = ("head",)  # training modes it supports; prompt/lora need `targets`
    needs: tuple[str, ...] = ()  # optional view fields the harness must fill: "sides" (strong_a, strong_b), "zero_shot"
    kinds: tuple[str, ...] = ("pairwise",)  # task kinds it supports; declare "binary" once it needs no sides

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.diagnostics: dict[str, float] = {}  # logged as method_<key>

    @abstractmethod
    def fit(self, view: StudentView) -> Predictor:
        """Train the student head from the weak labels in `view` (training mode `head`)."""

    def targets(self, view: StudentView) -> tuple[np.ndarray, np.ndarray]:
        """(positions in the view, P(A is better) targets) the student trains on, for modes that train something
        other than a head (`lora`: fine-tuning targets; `prompt`: demonstrations). Label-selecting methods only."""
        raise NotImplementedError(f"method {self.cfg.get('name')!r} supports training modes {list(self.modes)}")


def hard(probs: np.ndarray) -> np.ndarray:
    return (probs > 0.5).astype(np.float32)


def student_head(head: dict, method_cfg: dict) -> dict:
    """The student head's settings: the method's `student_l2` knob, when set, replaces head.l2 (every method's
    default) for this method alone, so a search can tune each variant's student regularization."""
    l2 = method_cfg.get("student_l2")
    return head if l2 is None else {**head, "l2": float(l2)}


def check_kind(method: Method, kind: str, mode: str, dataset: str) -> None:
    """Refuse, before anything runs, a method (or training mode) that cannot run on the dataset's task kind."""
    name = method.cfg.get("name", "?")
    if kind not in method.kinds:
        raise ConfigError(f"method {name!r} does not support task kind {kind!r} (dataset {dataset!r}; it supports "
                          f"{list(method.kinds)}): drop it from grid.methods for this dataset (docs/datasets.md)")
    if kind == "binary" and (mode != "head" or "zero_shot" in method.needs):
        what = f"training mode {mode!r}" if mode != "head" else "zero_shot log-probs"
        raise ConfigError(f"method {name!r}: {what} asks the strong LM to compare two replies; dataset {dataset!r} "
                          f"is binary (use mode=head and a method without zero_shot)")
