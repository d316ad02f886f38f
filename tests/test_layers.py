"""The NumPy layers of course_lib.layers against PyTorch (float64) and central differences.

Random shapes, kernel sizes, strides and paddings (seeded); a batch of 1; bad shapes.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.gradcheck import numerical_gradient, relative_error, torch_vjp
from course_lib.layers import (
    BatchNorm2dModule,
    Conv2dModule,
    DropoutModule,
    MaxPool2dModule,
    conv2d,
    im2col,
    output_size,
)

TOL = 1e-7  # analytical vs central differences
EXACT = 1e-12  # analytical vs PyTorch, both float64


def random_conv(rng, batch=None):
    """A Conv2dModule with random sizes, stride and padding (even beyond k - 1), an input."""
    k, s = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    p = int(rng.integers(0, k + 1))
    n = int(rng.integers(1, 4)) if batch is None else batch
    c, o = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    h, w = (int(rng.integers(max(1, k - 2 * p), 10)) for _ in range(2))
    conv = Conv2dModule(c, o, k, s, p, init_std=1.0, rng=rng, dtype=np.float64)
    conv.params["bias"] = rng.standard_normal(o)
    return conv, rng.standard_normal((n, c, h, w))


@pytest.mark.parametrize("trial", range(40))
def test_conv_against_torch(trial):
    rng = np.random.default_rng(trial)
    conv, x = random_conv(rng, batch=1 if trial % 10 == 0 else None)
    out = conv.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = conv.backward(dout)
    ref, (rdx, rdw, rdb) = torch_vjp(
        lambda a, w, b: F.conv2d(a, w, b, stride=conv.stride, padding=conv.padding),
        dout, x, conv.params["weight"], conv.params["bias"])
    assert out.shape == ref.shape
    for mine, theirs in ((out, ref), (dx, rdx), (conv.grads["weight"], rdw),
                         (conv.grads["bias"], rdb)):
        assert relative_error(mine, theirs) < EXACT


@pytest.mark.parametrize("trial", range(6))
def test_conv_central_differences(trial):
    rng = np.random.default_rng(100 + trial)
    conv, x = random_conv(rng)
    out = conv.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = conv.backward(dout)
    assert relative_error(dx, numerical_gradient(conv.forward, x, dout)) < TOL
    for name in ("weight", "bias"):
        numerical = numerical_gradient(lambda _: conv.forward(x), conv.params[name], dout)
        assert relative_error(conv.grads[name], numerical) < TOL


def test_conv_is_a_linear_layer_on_patches():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((4, 3, 3, 3)), np.ones(4)
    cols = im2col(x, 3, 1, 1)
    assert cols.shape == (2 * 5 * 6, 3 * 9)
    # row (n, i, j) of the patch matrix is the padded window at (i, j) of image n
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    np.testing.assert_array_equal(cols[1 * 30 + 2 * 6 + 4], xp[1, :, 2:5, 4:7].ravel())
    # and a sum over the window, eq-conv, written out at one position
    y = conv2d(x, w, b, padding=1)
    assert np.isclose(y[1, 2, 3, 4], b[2] + np.sum(w[2] * xp[1, :, 3:6, 4:7]))


def test_conv_bad_shapes():
    conv = Conv2dModule(3, 8, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\[batch, 3, height, width\].*\(2, 4, 8, 8\)"):
        conv.forward(np.zeros((2, 4, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"\[batch, 3, height, width\]"):
        conv.forward(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        conv.backward(np.zeros((2, 8, 8, 8)))
    conv.forward(np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"\(2, 8, 8, 8\)"):  # names the expected shape
        conv.backward(np.zeros((2, 8, 4, 4), np.float32))
    with pytest.raises(ValueError, match="smaller than the 3x3 kernel"):
        Conv2dModule(1, 1, 3, padding=0).forward(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="stride >= 1"):
        Conv2dModule(1, 1, 3, stride=0)


@pytest.mark.parametrize("trial", range(30))
def test_maxpool_against_torch(trial):
    rng = np.random.default_rng(200 + trial)
    k = int(rng.integers(1, 5))
    s, p = int(rng.integers(1, 4)), int(rng.integers(0, k // 2 + 1))
    n = 1 if trial % 10 == 0 else int(rng.integers(1, 4))
    x = rng.standard_normal((n, int(rng.integers(1, 4)), int(rng.integers(k, 11)),
                             int(rng.integers(k, 11))))
    if trial % 3 == 0:
        x = np.round(x)  # many ties: the first maximum of a window wins, as in PyTorch
    pool = MaxPool2dModule(k, s, p)
    out = pool.forward(x)
    dout = rng.standard_normal(out.shape)
    ref, (rdx,) = torch_vjp(lambda a: F.max_pool2d(a, k, s, p), dout, x)
    np.testing.assert_array_equal(out, ref)
    assert relative_error(pool.backward(dout), rdx) < EXACT


def test_maxpool_the_networks_pool_and_ties():
    # 3x3, stride 2, padding 1 on a constant map: every window ties; overlapping windows add
    pool = MaxPool2dModule(3, 2, 1)
    x = np.zeros((1, 1, 4, 4))
    assert pool.forward(x).shape == (1, 1, 2, 2)
    dx = pool.backward(np.ones((1, 1, 2, 2)))
    # the windows start at padded rows/cols 0 and 2; the first maximum of each is at input
    # (0, 0), (0, 1), (1, 0), (1, 1): each window's top-left real element
    expected = np.zeros((4, 4))
    expected[:2, :2] = 1
    np.testing.assert_array_equal(dx[0, 0], expected)
    _, (rdx,) = torch_vjp(lambda a: F.max_pool2d(a, 3, 2, 1), np.ones((1, 1, 2, 2)), x)
    np.testing.assert_array_equal(dx, rdx)
    # a maximum shared by two overlapping windows receives both gradients
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = 5.0
    pool.forward(x)
    assert pool.backward(np.ones((1, 1, 2, 2)))[0, 0, 1, 1] == 4.0  # in all four windows


def test_maxpool_central_differences():
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) * 0.01  # distinct: no kinks near
    pool = MaxPool2dModule(3, 2, 1)
    dout = rng.standard_normal(pool.forward(x).shape)
    assert relative_error(pool.backward(dout), numerical_gradient(pool.forward, x, dout)) < TOL


def test_maxpool_bad_shapes():
    with pytest.raises(ValueError, match="padding must be in"):
        MaxPool2dModule(3, 2, 2)
    pool = MaxPool2dModule()
    with pytest.raises(ValueError, match=r"\[batch, channels, height, width\]"):
        pool.forward(np.zeros((4, 4)))
    pool.forward(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"\(2, 3, 4, 4\)"):
        pool.backward(np.zeros((2, 3, 8, 8)))


def test_dropout_train_and_eval():
    rng = np.random.default_rng(0)
    drop = DropoutModule(0.3, rng=np.random.default_rng(1))
    x = rng.standard_normal((200, 500))
    out = drop.forward(x)
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(out[kept], x[kept] / 0.7)
    ones = drop.forward(np.ones((400, 500)))
    assert abs(ones.mean() - 1) < 0.01  # the 1/(1-p) keeps the expectation
    dout = rng.standard_normal(x.shape)
    out = drop.forward(x)
    np.testing.assert_allclose(drop.backward(dout), dout * (out != 0) / 0.7, rtol=1e-15)
    # central differences with the mask fixed (the same draws each call)
    small = rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    fixed = DropoutModule(0.5, rng=np.random.default_rng(5))

    def f(v):
        fixed.rng = np.random.default_rng(5)
        return fixed.forward(v)

    f(small)
    assert relative_error(fixed.backward(g), numerical_gradient(f, small, g)) < TOL
    drop.eval()
    assert drop.forward(x) is x
    np.testing.assert_array_equal(drop.backward(dout), dout)
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        DropoutModule(1.0)
    with pytest.raises(ValueError, match=r"\(200, 500\)"):
        drop.backward(np.zeros((3, 3)))


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_against_torch(training):
    rng = np.random.default_rng(7)
    x = 3 * rng.standard_normal((4, 5, 3, 2)) + 1
    dout = rng.standard_normal(x.shape)
    bn = BatchNorm2dModule(5, dtype=np.float64)
    ref = torch.nn.BatchNorm2d(5).double()
    with torch.no_grad():
        for name, value in (("weight", rng.standard_normal(5)), ("bias", rng.standard_normal(5))):
            bn.params[name] = value
            getattr(ref, name).copy_(torch.tensor(value))
    for _ in range(2):  # running statistics updated twice in training
        bn.forward(x)
        ref(torch.tensor(x))
    np.testing.assert_allclose(bn.running_mean, ref.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, ref.running_var.numpy(), rtol=1e-12)
    bn.train(training)
    ref.train(training)
    xt = torch.tensor(x, requires_grad=True)
    out_ref = ref(xt)
    out_ref.backward(torch.tensor(dout))
    out = bn.forward(x)
    dx = bn.backward(dout)
    assert relative_error(out, out_ref.detach().numpy()) < EXACT
    assert relative_error(dx, xt.grad.numpy()) < EXACT
    assert relative_error(bn.grads["weight"], ref.weight.grad.numpy()) < EXACT
    assert relative_error(bn.grads["bias"], ref.bias.grad.numpy()) < EXACT
    # central differences (the running statistics are frozen in evaluation mode)
    assert relative_error(dx, numerical_gradient(bn.forward, x, dout)) < TOL
    for name in ("weight", "bias"):
        numerical = numerical_gradient(lambda _: bn.forward(x), bn.params[name], dout)
        assert relative_error(bn.grads[name], numerical) < TOL


def test_batchnorm_bad_shapes():
    bn = BatchNorm2dModule(4)
    with pytest.raises(ValueError, match=r"\[batch, 4, height, width\]"):
        bn.forward(np.zeros((2, 3, 2, 2)))
    with pytest.raises(ValueError, match="more than one value per channel"):
        bn.forward(np.zeros((1, 4, 1, 1)))
    bn.forward(np.zeros((2, 4, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"\(2, 4, 2, 2\)"):
        bn.backward(np.zeros((2, 4, 1, 1)))


def test_output_size():
    assert [output_size(32, 3, 1, 1), output_size(32, 3, 2, 1), output_size(1, 3, 2, 1)] == \
        [32, 16, 1]
