"""How one side of a pair (prompt + one reply) becomes the text a model reads."""

from __future__ import annotations

PLAIN = "Human: {prompt}\nAssistant: {reply}"


def clip_words(text: str, n: int | None, keep: str) -> str:
    words = text.split()
    if n is None or len(words) <= n:
        return " ".join(words)
    return " ".join(words[-n:] if keep == "last" else words[:n])


def side_texts(prompt: str, reply: str, fmt: dict) -> tuple[str, str]:
    """(prompt, reply) clipped: the *last* words of the prompt, the *first* words of the reply."""
    return clip_words(prompt, fmt.get("prompt_words"), "last"), clip_words(reply, fmt.get("reply_words"), "first")


def uses_chat_template(model_cfg: dict, fmt: dict) -> bool:
    """Whether a model reads this dataset through its chat template: the dataset's `format.chat_template` where it
    says (a BIG-bench input with "Answer: X" is no chat turn), else the model's own `chat_template`."""
    said = fmt.get("chat_template")
    return bool(model_cfg.get("chat_template") if said is None else said)


def render(prompt: str, reply: str, fmt: dict, tokenizer=None) -> str:
    p, r = side_texts(prompt, reply, fmt)
    if tokenizer is not None:  # a chat model reads its own chat format
        return tokenizer.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                                             tokenize=False)
    return fmt.get("template", PLAIN).format(prompt=p, reply=r)
