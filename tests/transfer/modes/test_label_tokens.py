"""transfer.label_tokens: the one place label logits become log-probs and two presentation orders one preference."""

import numpy as np
import pytest
import torch

from transfer.errors import ConfigError
from transfer.label_tokens import label_logprobs, order_logits, single_token_ids, two_order_logit
from transfer.modes.prompts import prob_a


def test_log_softmax_is_over_the_whole_vocabulary():
    logits = torch.tensor([[2.0, 1.0, 0.0, 5.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.bfloat16)
    out = label_logprobs(logits, [0, 1])
    assert out.dtype == torch.float32 and label_logprobs(logits, [0, 1], torch.float64).dtype == torch.float64
    assert torch.allclose(out[1], torch.log(torch.tensor([0.25, 0.25])))  # not log(0.5): the vocabulary counts
    assert out[0, 0] - out[0, 1] == pytest.approx(1.0)


def test_the_two_orders_read_a_the_same_way_and_cancel_position_bias():
    rng = np.random.default_rng(0)
    lp = np.log(rng.dirichlet([1, 1], size=(20, 2)))  # (n, order, label)
    first, second = order_logits(lp)
    assert np.allclose(first, lp[:, 0, 0] - lp[:, 0, 1]) and np.allclose(second, lp[:, 1, 1] - lp[:, 1, 0])
    swapped = lp[:, ::-1]  # A and B exchanged: order 0 is the old order 1, and every preference flips sign
    assert np.allclose(two_order_logit(swapped), -two_order_logit(lp))
    biased = lp + np.array([0.0, 3.0])  # a model that always leans to " B", in both orders
    assert np.allclose(two_order_logit(biased), two_order_logit(lp))
    assert np.array_equal(prob_a(lp[:, 0], lp[:, 1]), 1 / (1 + np.exp(-two_order_logit(lp))))


def test_a_label_of_several_tokens_is_one_line():
    assert single_token_ids(lambda t: [ord(t[-1])], [" A", " B"], "m") == [65, 66]
    with pytest.raises(ConfigError, match="label ' AB' is 2 tokens for m"):
        single_token_ids(lambda t: [ord(c) for c in t.strip()], [" AB"], "m")
