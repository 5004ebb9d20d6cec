"""CCS's search takes its gradient in closed form: it must take the steps autograd would (a wrong term fails)."""

import torch

from transfer.methods.ccs import _ccs_loss_and_grad


def autograd_loss_and_grad(za, zb, w, c):
    """The loss as CCS defines it, differentiated by torch (what the search used before it was written out)."""
    w, c = w.clone().requires_grad_(), c.clone().requires_grad_()
    pa, pb = torch.sigmoid(za @ w + c), torch.sigmoid(zb @ w + c)
    losses = ((pa - (1 - pb)) ** 2).mean(dim=0) + (torch.minimum(pa, pb) ** 2).mean(dim=0)
    losses.sum().backward()
    return losses.detach(), w.grad, c.grad


def test_closed_form_gradient_is_autograds():
    gen = torch.Generator().manual_seed(0)
    za, zb = torch.randn(300, 8, generator=gen), torch.randn(300, 8, generator=gen)
    zb[:20] = za[:20]  # ties of the min: its gradient is split between the sides
    w, c = torch.randn(8, 5, generator=gen), torch.randn(5, generator=gen)
    w[:, 4] = 0  # a restart whose every pair ties
    got, want = _ccs_loss_and_grad(za, zb, w, c), autograd_loss_and_grad(za, zb, w, c)
    for g, x in zip(got, want):
        assert torch.allclose(g, x, rtol=1e-5, atol=1e-7)
    assert float(want[1].abs().max()) > 1e-3  # a gradient worth comparing
