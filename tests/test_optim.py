"""The update rules of course_lib.optim against torch.optim, step by step."""

import numpy as np
import pytest
import torch

from course_lib import optim
from course_lib.layers import Conv2dModule
from course_lib.numpy_modules import LinearModule


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.0)])
def test_adam_matches_torch_over_200_steps(weight_decay, betas):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((7, 5))
    m, v = np.zeros_like(w), np.zeros_like(w)
    ref = torch.tensor(w, requires_grad=True)
    opt = torch.optim.Adam([ref], lr=1e-2, betas=betas, weight_decay=weight_decay)
    worst = 0.0
    for t in range(1, 201):
        g = rng.standard_normal(w.shape) * rng.uniform(0.01, 10)
        w, m, v = optim.adam(w, g, m, v, t, 1e-2, betas, 1e-8, weight_decay)
        ref.grad = torch.tensor(g)
        opt.step()
        worst = max(worst, np.abs(w - ref.detach().numpy()).max() / np.abs(w).max())
    assert worst < 1e-12  # 200 steps of rounding differences (torch fuses a * b + c)


def test_adam_is_pure_and_broadcasts_over_a_stack():
    rng = np.random.default_rng(1)
    w, g = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 4, 2))
    m, v = rng.standard_normal(w.shape), rng.random(w.shape)
    before = [a.copy() for a in (w, g, m, v)]
    lr, wd = np.array([1e-3, 1e-2, 1e-1]), np.array([0.0, 0.1, 0.5])
    stacked = optim.adam(w, g, m, v, 3, lr[:, None, None], weight_decay=wd[:, None, None])
    for a, b in zip((w, g, m, v), before):
        np.testing.assert_array_equal(a, b)  # arguments unchanged
    for k in range(3):
        one = optim.adam(w[k], g[k], m[k], v[k], 3, lr[k], weight_decay=wd[k])
        for a, b in zip(stacked, one):
            np.testing.assert_allclose(a[k], b, rtol=1e-15)


def test_adam_first_step_is_sign_times_lr():
    # bias correction: after step 1, m_hat = g and v_hat = g^2, so the step is lr * g / (|g| + eps)
    g = np.array([1e-3, -2.0, 50.0])
    w, _, _ = optim.adam(np.zeros(3), g, np.zeros(3), np.zeros(3), 1, 0.1, eps=0.0)
    np.testing.assert_allclose(w, -0.1 * np.sign(g), rtol=1e-15)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_sgd_matches_torch(weight_decay):
    rng = np.random.default_rng(2)
    w = rng.standard_normal(6)
    ref = torch.tensor(w, requires_grad=True)
    opt = torch.optim.SGD([ref], lr=0.1, weight_decay=weight_decay)
    for _ in range(100):
        g = rng.standard_normal(6)
        w = optim.sgd(w, g, 0.1, weight_decay)
        ref.grad = torch.tensor(g)
        opt.step()
    np.testing.assert_allclose(w, ref.detach().numpy(), rtol=1e-13)


def test_adam_for_numpy_modules():
    rng = np.random.default_rng(3)
    layers = [Conv2dModule(2, 3, rng=rng, dtype=np.float64),
              LinearModule(4, 2, init_std=1.0, rng=rng, dtype=np.float64)]
    refs = [torch.tensor(p, requires_grad=True) for mod in layers for p in mod.params.values()]
    opt, ref_opt = optim.Adam(layers, lr=1e-3, weight_decay=0.01), torch.optim.Adam(
        refs, lr=1e-3, weight_decay=0.01)
    for _ in range(20):
        grads = [rng.standard_normal(t.shape) for t in refs]
        it = iter(grads)
        for mod in layers:
            mod.grads = {k: next(it) for k in mod.params}
        for t, g in zip(refs, grads):
            t.grad = torch.tensor(g)
        opt.step()
        ref_opt.step()
    mine = [p for mod in layers for p in mod.params.values()]
    for a, b in zip(mine, refs):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-13, atol=1e-15)
