"""Binary items (task kind `binary`): one text per item and a gold 0/1 label, e.g. a BIG-bench input + one of its
options -> is this option correct? The harness holds the labels; a method sees only f(text) and weak labels."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    example_id: str  # stable across runs: "<dataset>:<index>[:<option>]"
    prompt: str  # the context shown before the text ("" for plain text classification)
    text: str  # what is classified (with the prompt, the model reads `format.template`)
    group: str  # items of one group (e.g. the options of one input) never land in two splits
    label: bool  # gold
    subset: str


@dataclass(frozen=True)
class ItemSet:
    name: str
    items: tuple[Item, ...]
    kind = "binary"

    @property
    def pairs(self) -> tuple[Item, ...]:
        """The examples, under the name PairSet uses, so harness code that reads ids, groups and subsets of a
        dataset handles both kinds."""
        return self.items

    def __len__(self) -> int:
        return len(self.items)
