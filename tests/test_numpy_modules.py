"""Every NumPy module's backward pass against float64 central differences.

Each check draws random shapes and values (seeded) several times and compares the
analytical gradients for the input (dx) and the parameters (dW, db) with
:func:`course_lib.gradcheck.numerical_gradient`.
"""

import numpy as np
import pytest

from course_lib.data import one_hot
from course_lib.gradcheck import numerical_gradient, relative_error
from course_lib.numpy_modules import (
    CrossEntropyModule,
    LinearModule,
    ReLUModule,
    SoftMaxModule,
    cross_entropy,
    cross_entropy_backward,
    softmax,
    softmax_backward,
    softmax_cross_entropy_backward,
)

TOL = 1e-7
TRIALS = range(4)


def random_shape(rng, low=1, high=7):
    return tuple(int(n) for n in rng.integers(low, high, size=2))


def random_targets(rng, batch, classes):
    return one_hot(rng.integers(0, classes, batch), classes, dtype=np.float64)


@pytest.mark.parametrize("trial", TRIALS)
def test_linear_backward(trial):
    rng = np.random.default_rng(100 + trial)
    batch, (n_in, n_out) = int(rng.integers(1, 6)), random_shape(rng)
    layer = LinearModule(n_in, n_out, init_std=1.0, rng=rng, dtype=np.float64)
    layer.params["bias"][:] = rng.standard_normal(n_out)
    x = rng.standard_normal((batch, n_in))
    dout = rng.standard_normal((batch, n_out))

    layer.forward(x)
    dx = layer.backward(dout)
    assert dx.shape == x.shape
    assert layer.grads["weight"].shape == (n_out, n_in) and layer.grads["bias"].shape == (n_out,)

    num_dx = numerical_gradient(lambda v: layer.forward(v), x, dout)
    for name in ("weight", "bias"):
        p = layer.params[name]
        num = numerical_gradient(lambda _: layer.forward(x), p, dout)
        assert relative_error(layer.grads[name], num) < TOL, name
    assert relative_error(dx, num_dx) < TOL


def test_linear_forward_is_x_wt_plus_b():
    rng = np.random.default_rng(0)
    layer = LinearModule(4, 3, init_std=1.0, rng=rng, dtype=np.float64)
    layer.params["bias"][:] = [1.0, -2.0, 0.5]
    x = rng.standard_normal((5, 4))
    expected = np.stack([layer.params["weight"] @ xs + layer.params["bias"] for xs in x])
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12)


def test_linear_without_input_grad_still_stores_parameter_grads():
    rng = np.random.default_rng(1)
    layer = LinearModule(5, 3, init_std=1.0, rng=rng, dtype=np.float64)
    x, dout = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    layer.forward(x)
    assert layer.backward(dout, input_grad=False) is None
    np.testing.assert_allclose(layer.grads["weight"], dout.T @ x)
    np.testing.assert_allclose(layer.grads["bias"], dout.sum(axis=0))


@pytest.mark.parametrize("trial", TRIALS)
def test_relu_backward(trial):
    rng = np.random.default_rng(200 + trial)
    x = rng.standard_normal(random_shape(rng))
    x += np.sign(x) * 0.1  # keep every input away from the kink at 0
    dout = rng.standard_normal(x.shape)
    relu = ReLUModule()
    relu.forward(x)
    dx = relu.backward(dout)
    num = numerical_gradient(lambda v: ReLUModule().forward(v), x, dout)
    assert relative_error(dx, num) < TOL
    np.testing.assert_array_equal(dx, dout * (x > 0))  # eq. (19): x > 0, not x < 0


def test_relu_at_zero_uses_subgradient_zero():
    relu = ReLUModule()
    relu.forward(np.zeros((1, 3)))
    np.testing.assert_array_equal(relu.backward(np.ones((1, 3))), np.zeros((1, 3)))


@pytest.mark.parametrize("trial", TRIALS)
def test_softmax_backward(trial):
    rng = np.random.default_rng(300 + trial)
    x = 3 * rng.standard_normal(random_shape(rng, 2, 8))
    dout = rng.standard_normal(x.shape)
    module = SoftMaxModule()
    module.forward(x)
    num = numerical_gradient(softmax, x, dout)
    assert relative_error(module.backward(dout), num) < TOL
    assert relative_error(softmax_backward(dout, softmax(x)), num) < TOL


def test_softmax_jacobian_is_diag_minus_outer():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 6))
    s = softmax(x)[0]
    jac = np.stack([numerical_gradient(softmax, x, dout=np.eye(6)[[i]])[0] for i in range(6)])
    assert relative_error(jac, np.diag(s) - np.outer(s, s)) < TOL


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_stable_on_large_logits(dtype):
    logits = np.array([[1000.0, 999.0, 0.0], [-1000.0, -1001.0, -1000.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        probs = softmax(logits)
    assert probs.dtype == dtype
    assert np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    e = np.exp([1.0, 0.0])
    np.testing.assert_allclose(probs[0, :2], e / e.sum(), rtol=1e-6)
    np.testing.assert_allclose(probs, softmax(logits - logits.max(axis=1, keepdims=True)))


@pytest.mark.parametrize("trial", TRIALS)
def test_cross_entropy_backward(trial):
    rng = np.random.default_rng(400 + trial)
    batch, classes = random_shape(rng, 2, 8)
    probs = rng.uniform(0.05, 1.0, (batch, classes))
    t = random_targets(rng, batch, classes)
    num = numerical_gradient(lambda p: cross_entropy(p, t), probs)
    assert relative_error(cross_entropy_backward(probs, t), num) < TOL
    assert relative_error(CrossEntropyModule().backward(probs, t), num) < TOL


def test_cross_entropy_value():
    probs = np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]])
    t = one_hot(np.array([0, 2]), 3, dtype=np.float64)
    assert CrossEntropyModule().forward(probs, t) == pytest.approx(-(np.log(0.7) + np.log(0.5)) / 2)


@pytest.mark.parametrize("trial", TRIALS)
def test_fused_softmax_cross_entropy(trial):
    rng = np.random.default_rng(500 + trial)
    batch, classes = random_shape(rng, 2, 8)
    logits = 2 * rng.standard_normal((batch, classes))
    t = random_targets(rng, batch, classes)
    fused = softmax_cross_entropy_backward(logits, t)
    num = numerical_gradient(lambda z: cross_entropy(softmax(z), t), logits)
    chained = softmax_backward(cross_entropy_backward(softmax(logits), t), softmax(logits))
    assert relative_error(fused, num) < TOL
    assert relative_error(fused, chained) < 1e-12
    np.testing.assert_allclose(fused.sum(axis=1), 0.0, atol=1e-12)  # rows of p - t sum to 0


def test_fused_gradient_survives_where_the_chain_breaks():
    logits = np.array([[0.0, 800.0]])  # softmax underflows to exactly 0 for the target class
    t = np.array([[1.0, 0.0]])
    fused = softmax_cross_entropy_backward(logits, t)
    np.testing.assert_allclose(fused, [[-1.0, 1.0]])
    with np.errstate(divide="ignore", invalid="ignore"):
        chained = softmax_backward(cross_entropy_backward(softmax(logits), t), softmax(logits))
    assert not np.all(np.isfinite(chained))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="in \\[0, 10\\)"):
        one_hot(np.array([0, 10]))
    with pytest.raises(ValueError, match="in \\[0, 10\\)"):
        one_hot(np.array([-1]))
    with pytest.raises(ValueError, match="1-D"):
        one_hot(np.zeros((2, 2), dtype=int))
    layer = LinearModule(4, 3)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="flattened"):
        layer.forward(np.ones((2, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\[batch, 4\]"):
        layer.forward(np.ones((2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="one-hot"):
        cross_entropy(np.full((2, 3), 1 / 3), np.array([0, 1]))
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda v: v.sum(), np.ones(3, dtype=np.float32))
    # a Python list, and one sample as a 1-D array, are named (issue 24, item 6)
    with pytest.raises(TypeError, match="softmax expects x as a NumPy array.*got list"):
        softmax([[1.0, 2.0]])
    with pytest.raises(ValueError, match=r"one sample per row, got shape \(3,\).*x\[None\]"):
        softmax(np.ones(3))
    with pytest.raises(TypeError, match="LinearModule expects a NumPy array, got list"):
        layer.forward([[1.0, 2.0, 3.0, 4.0]])
    with pytest.raises(TypeError, match="ReLUModule expects a NumPy array, got list"):
        ReLUModule().forward([1.0])


def forwarded(module, x):
    module.forward(x)
    return module


@pytest.mark.parametrize("module,out", [(ReLUModule, (4, 5)), (SoftMaxModule, (4, 5)),
                                        (lambda: LinearModule(5, 3, dtype=np.float64), (4, 3))])
def test_backward_refuses_an_upstream_gradient_of_the_wrong_shape(module, out):
    """NumPy would broadcast a [4, 1] dout into a [4, 5] gradient, wrong and without a word."""
    m = forwarded(module(), np.random.default_rng(0).standard_normal((4, 5)))
    for bad in [(4, 1), (1, out[1]), (out[1], out[0]), (4, out[1], 1)]:
        with pytest.raises(ValueError, match=rf"dout of shape \({bad[0]}, {bad[1]}.*shape \(4, "
                                             rf"{out[1]}\)"):
            m.backward(np.ones(bad))
    if isinstance(m, LinearModule):
        with pytest.raises(ValueError, match=r"shape \(4, 1\).*\(4, 3\)"):
            m.backward(np.ones((4, 1)), input_grad=False)  # would store dW of shape [1, 5]
    assert m.backward(np.ones(out)).shape == (4, 5)


@pytest.mark.parametrize("module", [ReLUModule, SoftMaxModule])
def test_backward_before_forward_is_a_clear_error(module):
    with pytest.raises(RuntimeError, match=f"{module.__name__}.backward called before forward"):
        module().backward(np.ones((2, 3)))


@pytest.mark.parametrize("logits", [np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]]),
                                    np.array([[2.0, 1.5, 3.0], [0.1, 0.2, 3.0]])])
def test_cross_entropy_refuses_logits(logits):
    """Negative logits gave NaN (and a warning), positive ones a wrong finite loss."""
    t = one_hot(np.array([0, 2]), 3, dtype=np.float64)
    for f in (cross_entropy, cross_entropy_backward, CrossEntropyModule().forward,
              CrossEntropyModule().backward):
        with pytest.raises(ValueError, match=r"expects probabilities in \[0, 1\], but "
                                             r"probs\[0, [01]\] = .*softmax"):
            f(logits, t)
    assert np.isfinite(cross_entropy(softmax(logits), t))
