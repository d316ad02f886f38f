"""Tests of course_lib.batchnorm: the three BatchNorms, evaluation mode, the 2-D variant.

(The training demonstration moved to torch_mlp and is tested in test_torch_mlp.py.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.batchnorm import (
    CustomBatchNorm2d,
    CustomBatchNormAutograd,
    CustomBatchNormManualFunction,
    CustomBatchNormManualModule,
)
from course_lib.gradcheck import numerical_gradient, relative_error

SHAPES = [(2, 1), (7, 3), (16, 10), (64, 5)]
MODULES = [CustomBatchNormAutograd, CustomBatchNormManualModule]


def random_problem(shape, seed, dtype=torch.float64):
    """A batch far from zero mean / unit variance, random gamma, beta and upstream gradient."""
    g = torch.Generator().manual_seed(seed)
    b, c = shape
    scale = (torch.rand(c, generator=g, dtype=dtype) + 0.2) * 5
    x = torch.randn(b, c, generator=g, dtype=dtype) * scale
    x = x + torch.randn(c, generator=g, dtype=dtype) * 3
    gamma = torch.rand(c, generator=g, dtype=dtype) + 0.5
    beta = torch.randn(c, generator=g, dtype=dtype)
    dy = torch.randn(b, c, generator=g, dtype=dtype)
    return x, gamma, beta, dy


def gamma_beta(module):
    """The scale and shift parameters: ``weight``/``bias`` in torch.nn, ``gamma``/``beta`` here."""
    if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
        return module.weight, module.bias
    return module.gamma, module.beta


def with_params(module, gamma, beta):
    with torch.no_grad():
        for param, value in zip(gamma_beta(module), (gamma, beta)):
            param.copy_(value)
    return module


def grads_of(module, x, dy):
    """Output and gradients (x, gamma, beta) of ``sum(module(x) * dy)``."""
    x = x.clone().requires_grad_(True)
    out = module(x)
    gx, gg, gb = torch.autograd.grad(out, [x, *gamma_beta(module)], dy)
    return out.detach(), gx, gg, gb


# --- forward -----------------------------------------------------------------------------

@pytest.mark.parametrize("cls", MODULES)
def test_initial_parameters_and_buffers(cls):
    m = cls(6)
    assert torch.equal(m.gamma.detach(), torch.ones(6))
    assert torch.equal(m.beta.detach(), torch.zeros(6))
    assert torch.equal(m.running_mean, torch.zeros(6))
    assert torch.equal(m.running_var, torch.ones(6))
    assert m.eps == 1e-5 and m.momentum == 0.1
    assert {n for n, _ in m.named_parameters()} == {"gamma", "beta"}


def test_biased_variance_by_hand():
    # x = (0, 2): mean 1, biased variance ((0-1)^2 + (2-1)^2) / 2 = 1 (the unbiased one is 2).
    x = torch.tensor([[0.0], [2.0]], dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    y = CustomBatchNormManualFunction.apply(x, one, 0 * one, 1e-5)
    expected = torch.tensor([[-1.0], [1.0]], dtype=torch.float64) / np.sqrt(1 + 1e-5)
    torch.testing.assert_close(y, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("shape", SHAPES[1:])
@pytest.mark.parametrize("cls", MODULES)
def test_output_has_mean_beta_and_variance_gamma_squared(cls, shape):
    x, gamma, beta, _ = random_problem(shape, seed=1)
    m = with_params(cls(shape[1]).double(), gamma, beta)
    y = m(x).detach()
    torch.testing.assert_close(y.mean(dim=0), beta, rtol=0, atol=1e-10)
    # Biased variance of y is gamma^2 var / (var + eps): equal to gamma^2 up to eps / var.
    var_x = x.var(dim=0, unbiased=False)
    torch.testing.assert_close(y.var(dim=0, unbiased=False), gamma**2 * var_x / (var_x + m.eps),
                               rtol=1e-10, atol=0)
    torch.testing.assert_close(y.var(dim=0, unbiased=False), gamma**2, rtol=1e-4, atol=0)


# --- the three implementations against each other and against torch.nn --------------------

@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 2e-4)])
@pytest.mark.parametrize("shape", SHAPES)
def test_implementations_agree_with_batchnorm1d(shape, dtype, tol):
    x, gamma, beta, dy = random_problem(shape, seed=sum(shape), dtype=dtype)
    reference = grads_of(with_params(nn.BatchNorm1d(shape[1]).to(dtype), gamma, beta), x, dy)
    for cls in MODULES:
        got = grads_of(with_params(cls(shape[1]).to(dtype), gamma, beta), x, dy)
        for name, a, b in zip(["y", "dx", "dgamma", "dbeta"], got, reference):
            scale = b.abs().max().clamp(min=1.0)
            assert (a - b).abs().max() <= tol * scale, f"{cls.__name__} {name} {shape}"


@pytest.mark.parametrize("shape", SHAPES)
def test_manual_function_gradcheck(shape):
    x, gamma, beta, _ = random_problem(shape, seed=10 + shape[0])
    inputs = [t.clone().requires_grad_(True) for t in (x, gamma, beta)]
    f = lambda x, g, b: CustomBatchNormManualFunction.apply(x, g, b, 1e-5)
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_manual_backward_against_course_numerical_gradient():
    x, gamma, beta, dy = random_problem((9, 4), seed=3)
    x_np = x.numpy().copy()
    f = lambda a: CustomBatchNormManualFunction.apply(torch.from_numpy(a), gamma, beta).numpy()
    x_req = x.clone().requires_grad_(True)
    CustomBatchNormManualFunction.apply(x_req, gamma, beta).backward(dy)
    assert relative_error(x_req.grad.numpy(), numerical_gradient(f, x_np, dy.numpy())) < 1e-7


def test_second_derivative_is_refused():
    x, gamma, beta, _ = random_problem((5, 3), seed=11)
    x.requires_grad_(True)
    (gx,) = torch.autograd.grad(CustomBatchNormManualFunction.apply(x, gamma, beta).pow(3).sum(),
                                x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        gx.sum().backward()


class FakeCtx:
    """Enough of an autograd context to call forward and backward directly."""

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


@pytest.mark.parametrize("needs", [(True, False, False), (False, True, True), (False, True, False),
                                   (True, True, True), (False, False, False)])
def test_backward_returns_none_for_inputs_that_need_no_gradient(needs):
    x, gamma, beta, dy = random_problem((5, 3), seed=4)
    ctx = FakeCtx()
    CustomBatchNormManualFunction.forward(ctx, x, gamma, beta, 1e-5)
    ctx.needs_input_grad = (*needs, False)
    out = CustomBatchNormManualFunction.backward(ctx, dy)
    assert len(out) == 4 and out[3] is None
    for need, grad in zip(needs, out[:3]):
        assert (grad is not None) == need


def test_needs_input_grad_through_autograd():
    x, gamma, beta, dy = random_problem((6, 2), seed=5)
    gamma.requires_grad_(True)  # x and beta need no gradient
    y = CustomBatchNormManualFunction.apply(x, gamma, beta)
    y.backward(dy)
    assert x.grad is None and beta.grad is None
    torch.testing.assert_close(gamma.grad, (dy * (y.detach() - beta) / gamma.detach()).sum(0))


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("bad_shape", [(5,), (4, 3, 2), (4, 2), (4, 4), ()])
@pytest.mark.parametrize("cls", MODULES)
def test_wrong_shape_raises(cls, bad_shape):
    m = cls(3)
    with pytest.raises(ValueError, match=r"shape \[batch_size, 3\]"):
        m(torch.randn(bad_shape))
    m.eval()
    with pytest.raises(ValueError, match=r"shape \[batch_size, 3\]"):
        m(torch.randn(bad_shape))


def test_function_wrong_shapes_raise():
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="shape"):
        CustomBatchNormManualFunction.apply(x, torch.ones(2), torch.zeros(2))
    with pytest.raises(ValueError, match="shape"):
        CustomBatchNormManualFunction.apply(x[0], torch.ones(3), torch.zeros(3))
    with pytest.raises(ValueError, match="differ"):
        CustomBatchNormManualFunction.apply(x, torch.ones(3), torch.zeros(3, 1))


@pytest.mark.parametrize("cls", MODULES)
def test_batch_of_one_in_training_raises_and_would_collapse_to_beta(cls):
    with pytest.raises(ValueError, match=r"at least 2 .* shape \[1, 3\]"):
        cls(3)(torch.randn(1, 3))
    with pytest.raises(ValueError, match=r"at least 2 .* shape \[1, 3\]"):
        CustomBatchNormManualFunction.apply(torch.randn(1, 3), torch.rand(3), torch.randn(3))
    # With batch statistics a single example is normalised to 0 and the output is beta
    # (eqs. 40-43 as written, without the module's check):
    m = with_params(CustomBatchNormAutograd(3), torch.rand(3), torch.randn(3))
    for _ in range(3):
        y = m.normalize_batch(torch.randn(1, 3) * 10).detach()
        torch.testing.assert_close(y[0], m.beta.detach())
    # Evaluation mode uses the running statistics, so a single example is fine.
    m = cls(3).eval()
    x = torch.randn(1, 3)
    torch.testing.assert_close(m(x), x / np.sqrt(1 + m.eps))


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
@pytest.mark.parametrize("cls", [*MODULES, CustomBatchNorm2d])
def test_input_dtype_must_match_the_parameters(cls, dtype, train):
    """float32 parameters: torch failed with 'expected dtype float ... c10::Half' in training
    mode and silently mixed dtypes in evaluation mode."""
    shape = (4, 3, 2, 2) if cls is CustomBatchNorm2d else (4, 3)
    m = cls(3).train(train)
    with pytest.raises(ValueError, match=rf"input dtype {dtype} does not match the parameters' "
                                         r"dtype torch.float32: .*module.to\("):
        m(torch.randn(shape, dtype=dtype))
    assert m.to(dtype)(torch.randn(shape).to(dtype)).dtype == dtype


@pytest.mark.parametrize("cls", [*MODULES, CustomBatchNorm2d])
def test_integer_input_is_refused_without_advising_an_integer_module(cls):
    shape = (4, 3, 2, 2) if cls is CustomBatchNorm2d else (4, 3)
    with pytest.raises(ValueError, match=r"floating-point input, got torch.int64") as err:
        cls(3)(torch.ones(shape, dtype=torch.int64))
    assert "module.to" not in str(err.value)


# --- running statistics and evaluation mode ------------------------------------------------

@pytest.mark.parametrize("cls", MODULES)
def test_running_stats_and_eval_match_batchnorm1d(cls):
    g = torch.Generator().manual_seed(6)
    ours, ref = cls(4).double(), nn.BatchNorm1d(4, momentum=0.1).double()
    _, gamma, beta, _ = random_problem((3, 4), seed=6)
    with_params(ours, gamma, beta), with_params(ref, gamma, beta)
    for batch_size in [2, 5, 8, 32, 3]:
        x = torch.randn(batch_size, 4, generator=g, dtype=torch.float64) * 4 + 2
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(ours.running_mean, ref.running_mean, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(ours.running_var, ref.running_var, rtol=1e-12, atol=1e-12)
    ours.eval(), ref.eval()
    mean_before, var_before = ours.running_mean.clone(), ours.running_var.clone()
    x = torch.randn(10, 4, generator=g, dtype=torch.float64) * 4 + 2
    out, out_ref = grads_of(ours, x, x), grads_of(ref, x, x)
    for a, b in zip(out, out_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    # Evaluation neither updates the statistics nor depends on the rest of the batch.
    assert torch.equal(ours.running_mean, mean_before) and torch.equal(ours.running_var, var_before)
    torch.testing.assert_close(ours(x[:3])[0], ours(x)[0], rtol=0, atol=0)


@pytest.mark.parametrize("cls", MODULES)
def test_training_output_depends_on_the_batch_eval_output_does_not(cls):
    g = torch.Generator().manual_seed(7)
    m = cls(3)
    a = torch.randn(4, 3, generator=g)
    b = torch.cat([a[:1], torch.randn(4, 3, generator=g) + 5])
    assert (m(a)[0] - m(b)[0]).abs().max() > 0.1
    m.eval()
    torch.testing.assert_close(m(a)[0], m(b)[0], rtol=0, atol=0)


# --- the 2-D variant ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 1, 1, 2), (4, 3, 5, 6), (8, 2, 3, 3)])
def test_batchnorm2d_matches_torch(shape):
    g = torch.Generator().manual_seed(shape[0] * shape[2])
    c = shape[1]
    ours, ref = CustomBatchNorm2d(c).double(), nn.BatchNorm2d(c).double()
    gamma = torch.rand(c, generator=g, dtype=torch.float64) + 0.5
    beta = torch.randn(c, generator=g, dtype=torch.float64)
    with_params(ours, gamma, beta), with_params(ref, gamma, beta)
    for _ in range(3):
        x = torch.randn(shape, generator=g, dtype=torch.float64) * 3 - 1
        dy = torch.randn(shape, generator=g, dtype=torch.float64)
        for a, b in zip(grads_of(ours, x, dy), grads_of(ref, x, dy)):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(ours.running_mean, ref.running_mean, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(ours.running_var, ref.running_var, rtol=1e-12, atol=1e-12)
    ours.eval(), ref.eval()
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-12, atol=1e-12)


def test_batchnorm2d_statistics_are_per_channel():
    x = torch.randn(5, 3, 4, 4, generator=torch.Generator().manual_seed(8)) * 3 + 1
    y = CustomBatchNorm2d(3)(x).detach()
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(3), rtol=0, atol=1e-5)
    torch.testing.assert_close(y.var(dim=(0, 2, 3), unbiased=False), torch.ones(3),
                               rtol=1e-3, atol=0)


def test_batchnorm2d_gradcheck():
    g = torch.Generator().manual_seed(9)
    m = CustomBatchNorm2d(2).double()
    with_params(m, torch.tensor([0.7, 1.6], dtype=torch.float64),
                torch.tensor([0.1, -0.4], dtype=torch.float64))
    x = torch.randn(3, 2, 2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,), eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("bad_shape", [(4, 3), (2, 3, 4), (2, 4, 3, 3), (1, 2, 3, 4, 5)])
def test_batchnorm2d_wrong_shape_raises(bad_shape):
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        CustomBatchNorm2d(3)(torch.randn(bad_shape))
