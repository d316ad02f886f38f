"""The assignment's grader: which functions a student writes, and how each one is checked.

:data:`TASKS` lists the 22 functions whose bodies ``scripts/make_assignment.py`` replaces by
stubs. Each task's check compares the student's function with a reference (PyTorch's result,
or its autograd's gradient through :func:`course_lib.gradcheck.torch_vjp`) on inputs chosen
to catch the usual mistakes (a row of large logits, inputs at ReLU's kink, tied maxima, a
float32 input), and names the quantity that differs.

:func:`grade` checks one function in a child process of its own (``multiprocessing``'s
forkserver), so that nothing a student's code does can stop the grading: a function that
hangs is stopped after :data:`TIMEOUT` seconds, one that calls ``sys.exit`` or ``os._exit`` is
reported, and a module that does not import marks each of its functions with its error.
Every argument a student's function gets is a copy, compared with the original afterwards:
no function may change its inputs. A backward pass whose check fails while its forward pass
(``Task.uses``) is wrong is reported as depending on it, so that one mistake is reported once.

``pytest tests/test_assignment.py`` (or ``python scripts/grade.py``) prints one row per
function and fails unless all of them pass.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import inspect
import json
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np

from .gradcheck import numerical_gradient, relative_error, torch_vjp
from .grading import TOL, _culprit, _first_line, stub_message

TIMEOUT = float(os.environ.get("COURSE_GRADER_TIMEOUT", 60))  # seconds per function


class Wrong(Exception):
    """What a check found wrong, in words."""


@dataclass(frozen=True)
class Task:
    """One function a student writes: where it is, what it computes, how it is graded."""

    name: str                  # qualified name in its module, e.g. "LinearModule.backward"
    module: str                # its module in course_lib
    chapter: str               # the chapter whose checks grade it
    labels: tuple[str, ...]    # the equations to implement, by their labels in that chapter
    what: str                  # its inputs and outputs, with shapes
    check: Callable[[], Iterator]  # yields (what is compared, the student's, the reference)
    tol: float = TOL
    interface: tuple[str, ...] = ()  # parameter names that the UvA template fixes
    # other functions of the template that call this one, with the parameters they must have
    callers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    uses: tuple[str, ...] = ()  # the tasks whose results this one's check builds on

    @property
    def function(self):
        obj = importlib.import_module(f"course_lib.{self.module}")
        for part in self.name.split("."):
            obj = getattr(obj, part)
        return obj


# -- calling a student's function ----------------------------------------------------------------

def _torch():
    import torch
    return torch


def _copy(a):
    return a.detach().clone() if type(a).__module__.startswith("torch") else copy.deepcopy(a)


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or type(a).__module__.startswith("torch"):
        a, b = _numpy(a), _numpy(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(
            np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    return True


def _numpy(a):
    if type(a).__module__.startswith("torch"):
        return a.detach().numpy()
    return np.asarray(a)


def call(f, *args, names: tuple[str, ...] | None = None):
    """``f(*copies of args)``; raises :class:`Wrong` if ``f`` changed one of them in place."""
    if names is None:
        try:
            params = [p for p in inspect.signature(f).parameters]
        except (TypeError, ValueError):
            params = []
        names = tuple(params[:len(args)])
    copies = [_copy(a) for a in args]
    out = f(*copies)
    for i, (a, c) in enumerate(zip(args, copies)):
        if not _same(a, c):
            name = names[i] if i < len(names) else f"argument {i + 1}"
            raise Wrong(f"changed its input {name} in place (no function may change its "
                        "arguments: work on a copy, or return new arrays)")
    return out


# -- the checks ----------------------------------------------------------------------------------

def _rng():
    return np.random.default_rng(1234)


def _nm():
    from . import numpy_modules
    return numpy_modules


def _layers():
    from . import layers
    return layers


def _probs(rng, b=5, c=7):
    z = np.exp(rng.standard_normal((b, c)))
    return z / z.sum(axis=1, keepdims=True), np.eye(c)[rng.integers(0, c, b)]


def _check_softmax():
    torch = _torch()
    x = 3 * _rng().standard_normal((6, 9))
    yield "softmax(x) of logits x [6, 9]", call(_nm().softmax, x), \
        torch.softmax(torch.tensor(x), dim=1).numpy()
    big = np.array([[1000.0, 999.0, 0.0]])  # exp overflows unless the maximum is subtracted
    yield "softmax([[1000, 999, 0]]) (large logits)", call(_nm().softmax, big), \
        torch.softmax(torch.tensor(big), dim=1).numpy()


def _check_softmax_backward():
    rng, torch = _rng(), _torch()
    x, g = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    probs, (ref,) = torch_vjp(lambda t: torch.softmax(t, dim=1), g, x)
    yield "dL/dx", call(_nm().softmax_backward, g, probs), ref


def _check_cross_entropy():
    rng, torch = _rng(), _torch()
    p, t = _probs(rng)
    ref = torch.nn.functional.nll_loss(torch.tensor(np.log(p)), torch.tensor(t.argmax(1)))
    yield "the loss of a batch of 5", call(_nm().cross_entropy, p, t), ref.item()


def _check_cross_entropy_backward():
    rng, torch = _rng(), _torch()
    p, t = _probs(rng)
    _, (ref,) = torch_vjp(lambda q: torch.nn.functional.nll_loss(
        torch.log(q), torch.tensor(t.argmax(1))), np.array(1.0), p)
    yield "dL/d(probs) of the batch mean", call(_nm().cross_entropy_backward, p, t), ref


def _check_softmax_cross_entropy_backward():
    rng, torch = _rng(), _torch()
    x, t = 2 * rng.standard_normal((5, 7)), np.eye(7)[rng.integers(0, 7, 5)]
    _, (ref,) = torch_vjp(lambda z: torch.nn.functional.cross_entropy(
        z, torch.tensor(t.argmax(1))), np.array(1.0), x)
    yield "dL/d(logits) of the batch mean", \
        call(_nm().softmax_cross_entropy_backward, x, t), ref


def _linear(rng):
    layer = _nm().LinearModule(5, 4, init_std=1.0, rng=rng, dtype=np.float64)
    layer.params["bias"] = rng.standard_normal(4)
    return layer


def _check_linear_forward():
    rng, F = _rng(), _torch().nn.functional
    layer, x = _linear(rng), rng.standard_normal((6, 5))
    ref, _ = torch_vjp(F.linear, np.ones((6, 4)), x, layer.params["weight"],
                       layer.params["bias"])
    yield "out = forward(x)", call(layer.forward, x), ref


def _check_linear_backward():
    rng, F = _rng(), _torch().nn.functional
    layer, x, g = _linear(rng), rng.standard_normal((6, 5)), rng.standard_normal((6, 4))
    call(layer.forward, x)
    dx = call(layer.backward, g)
    _, (rdx, rdw, rdb) = torch_vjp(F.linear, g, x, layer.params["weight"], layer.params["bias"])
    yield "grads['weight']", layer.grads["weight"], rdw
    yield "grads['bias']", layer.grads["bias"], rdb
    yield "dL/dx", dx, rdx
    if call(layer.backward, g, False) is not None:
        raise Wrong("backward(dout, input_grad=False) must return None")


def _relu_input(rng, shape):
    x = rng.standard_normal(shape)
    x[:, ::3] = 0.0  # the kink: the gradient there is 0, as in PyTorch
    return x


def _check_relu_forward():
    x = _relu_input(_rng(), (5, 9))
    yield "out = forward(x)", call(_nm().ReLUModule().forward, x), np.maximum(x, 0)


def _check_relu_backward():
    rng, torch = _rng(), _torch()
    x, g = _relu_input(rng, (5, 9)), rng.standard_normal((5, 9))
    relu = _nm().ReLUModule()
    call(relu.forward, x)
    dx = call(relu.backward, g)
    _, (ref,) = torch_vjp(torch.relu, g, x)
    if np.shape(dx) == x.shape:
        yield "dL/dx where x != 0", dx[x != 0], ref[x != 0]
        yield "dL/dx at x = 0 (0 there)", dx[x == 0], ref[x == 0]
    yield "dL/dx", dx, ref
    # against central differences too, away from the kink
    away = x + 0.1 * np.sign(x)
    away[x == 0] = 0.5
    call(relu.forward, away)
    yield "dL/dx (central differences)", call(relu.backward, g), numerical_gradient(
        lambda v: np.maximum(v, 0), away.copy(), g)


_BN_NAMES = ("input", "gamma", "beta", "eps")


def _bn_inputs():
    torch = _torch()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(8, 5, generator=g, dtype=torch.float64) * 3 + 1
    gamma = torch.rand(5, generator=g, dtype=torch.float64) + 0.5
    beta = torch.randn(5, generator=g, dtype=torch.float64)
    dy = torch.randn(8, 5, generator=g, dtype=torch.float64)
    return x, gamma, beta, dy


def _check_bn_forward():
    from .batchnorm import CustomBatchNormManualFunction
    torch = _torch()
    x, gamma, beta, _ = _bn_inputs()
    ref = torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)
    y = call(CustomBatchNormManualFunction.apply, x, gamma, beta, 1e-5, names=_BN_NAMES)
    yield "y (normalised with the batch's mean and biased variance)", y, ref


def _check_bn_backward():
    from .batchnorm import CustomBatchNormManualFunction
    torch = _torch()
    x, gamma, beta, dy = _bn_inputs()
    inputs = [t.clone().requires_grad_(True) for t in (x, gamma, beta)]
    y = CustomBatchNormManualFunction.apply(*inputs, 1e-5)
    for name, t, t0 in zip(_BN_NAMES, inputs, (x, gamma, beta)):
        if not torch.equal(t.detach(), t0):
            raise Wrong(f"changed its input {name} in place")
    got = torch.autograd.grad(y, inputs, dy)
    ref = torch.autograd.grad(torch.nn.functional.batch_norm(
        inputs[0], None, None, inputs[1], inputs[2], training=True, eps=1e-5), inputs, dy)
    for name, a, b in zip(("dL/dinput", "dL/dgamma", "dL/dbeta"), got, ref):
        yield name, a, b


_CONV_CASES = ((3, 1, 1), (3, 2, 1), (2, 2, 0), (4, 3, 2))  # kernel size, stride, padding


def _check_conv2d():
    rng, F = _rng(), _torch().nn.functional
    for k, s, p in _CONV_CASES:
        x, w, b = (rng.standard_normal(shape) for shape in ((2, 3, 9, 8), (4, 3, k, k), (4,)))
        ref = F.conv2d(*map(_torch().tensor, (x, w, b)), stride=s, padding=p).numpy()
        yield f"y for kernel {k}, stride {s}, padding {p}", \
            call(_layers().conv2d, x, w, b, s, p), ref


def _check_conv2d_backward_input():
    rng, torch = _rng(), _torch()
    for k, s, p in _CONV_CASES:
        x, w = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, k, k))
        out = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), stride=s, padding=p)
        g = rng.standard_normal(out.shape)
        _, (ref, _) = torch_vjp(
            partial(torch.nn.functional.conv2d, stride=s, padding=p), g, x, w)
        yield f"dL/dx for kernel {k}, stride {s}, padding {p}", \
            call(_layers().conv2d_backward_input, g, w, x.shape[2:], s, p), ref


def _conv_module(rng):
    conv = _layers().Conv2dModule(3, 4, kernel_size=3, stride=2, padding=1, init_std=1.0,
                                  rng=rng, dtype=np.float64)
    conv.params["bias"] = rng.standard_normal(4)
    return conv, rng.standard_normal((2, 3, 7, 6))


def _conv_reference(conv, x, g):
    F = _torch().nn.functional
    return torch_vjp(lambda a, w, b: F.conv2d(a, w, b, stride=2, padding=1),
                     g, x, conv.params["weight"], conv.params["bias"])


def _check_conv_forward():
    conv, x = _conv_module(_rng())
    ref, _ = _conv_reference(conv, x, np.ones((2, 4, 4, 3)))
    yield "y = forward(x) (kernel 3, stride 2, padding 1)", call(conv.forward, x), ref


def _check_conv_backward():
    rng = _rng()
    conv, x = _conv_module(rng)
    g = rng.standard_normal((2, 4, 4, 3))
    call(conv.forward, x)
    dx = call(conv.backward, g)
    _, (rdx, rdw, rdb) = _conv_reference(conv, x, g)
    yield "grads['weight']", conv.grads["weight"], rdw
    yield "grads['bias']", conv.grads["bias"], rdb
    yield "dL/dx", dx, rdx
    if call(conv.backward, g, False) is not None:
        raise Wrong("backward(dout, input_grad=False) must return None")


def _pool_inputs(rng):
    """Negative values without ties (a padding of 0 instead of -inf would win), and small
    integers with many tied maxima."""
    distinct = -rng.permutation(2 * 3 * 9 * 9).reshape(2, 3, 9, 9) / 100.0 - 1
    tied = rng.integers(0, 3, (2, 3, 9, 9)).astype(np.float64)
    return (("", distinct), (" with tied maxima", tied))


def _check_pool_forward():
    F = _torch().nn.functional
    for case, x in _pool_inputs(_rng()):
        ref = F.max_pool2d(_torch().tensor(x), 3, 2, 1).numpy()
        yield f"y{case} (kernel 3, stride 2, padding 1)", \
            call(_layers().MaxPool2dModule(3, 2, 1).forward, x), ref


def _check_pool_backward():
    rng, F = _rng(), _torch().nn.functional
    for case, x in _pool_inputs(rng):
        pool = _layers().MaxPool2dModule(3, 2, 1)
        g = rng.standard_normal(F.max_pool2d(_torch().tensor(x), 3, 2, 1).shape)
        call(pool.forward, x)
        _, (ref,) = torch_vjp(lambda t: F.max_pool2d(t, 3, 2, 1), g, x)
        what = ", each window's to its first arg-max" if case else ""
        yield f"dL/dx{case}{what}", call(pool.backward, g), ref


def _check_dropout_forward():
    """The units kept are those where ``rng.random(x.shape) >= p``, scaled by ``1 / (1 - p)``;
    evaluation mode returns the input; the dtype is the input's."""
    p = 0.3
    x = _rng().standard_normal((20, 30))
    drop = _layers().DropoutModule(p, rng=np.random.default_rng(5))
    y = call(drop.forward, x)
    kept = np.random.default_rng(5).random(x.shape) >= p
    if np.shape(y) == x.shape:
        yield "which units are kept (those where rng.random(x.shape) >= p)", y != 0, kept
    yield "y (the kept units scaled by 1 / (1 - p))", y, np.where(kept, x / (1 - p), 0.0)
    yield "y in evaluation mode (the input)", call(drop.eval().forward, x), x
    x32 = x.astype(np.float32)
    for training in (True, False):
        y32 = np.asarray(call(drop.train(training).forward, x32))
        if y32.dtype != np.float32:
            raise Wrong(f"forward returns {y32.dtype} for a float32 input (in "
                        f"{'training' if training else 'evaluation'} mode): keep x's dtype")


def _check_dropout_backward():
    """With the forward pass's mask: dL/dx = dL/dy * y / x; in evaluation dL/dx = dL/dy."""
    rng = _rng()
    x, g = rng.standard_normal((20, 30)), rng.standard_normal((20, 30))
    drop = _layers().DropoutModule(0.4, rng=np.random.default_rng(6))
    y = call(drop.forward, x)
    yield "dL/dx in training (with the forward pass's mask and scale)", \
        call(drop.backward, g), g * np.asarray(y) / x
    call(drop.eval().forward, x)
    yield "dL/dx in evaluation mode (dL/dy)", call(drop.backward, g), g


def _check_bn2d(backward: bool):
    """Against ``torch.nn.BatchNorm2d`` in training (after one batch moved the running
    statistics) and in evaluation."""
    rng, torch = _rng(), _torch()
    x, g = 2 * rng.standard_normal((4, 5, 3, 3)) + 1, rng.standard_normal((4, 5, 3, 3))
    for training in (True, False):
        mode = "training" if training else "evaluation"
        bn = _layers().BatchNorm2dModule(5, dtype=np.float64)
        ref = torch.nn.BatchNorm2d(5).double()
        call(bn.forward, x)
        ref(torch.tensor(x))
        bn.train(training)
        ref.train(training)
        y = call(bn.forward, x)
        out, (rdx,) = torch_vjp(ref, g, x)
        if backward:
            dx = call(bn.backward, g)
            yield f"grads['weight'] in {mode}", bn.grads["weight"], ref.weight.grad
            yield f"grads['bias'] in {mode}", bn.grads["bias"], ref.bias.grad
            yield f"dL/dx in {mode}", dx, rdx
        else:
            yield f"y in {mode} mode", y, out
            yield f"running_mean after a step in {mode}", bn.running_mean, ref.running_mean
            yield f"running_var after a step in {mode}", bn.running_var, ref.running_var


def _check_adam():
    from .optim import adam
    rng, torch = _rng(), _torch()
    w0 = rng.standard_normal((6, 4))
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    ref = torch.tensor(w0, requires_grad=True)
    opt = torch.optim.Adam([ref], lr=1e-2, weight_decay=0.05)
    for t in range(1, 31):
        g = rng.standard_normal(w.shape) * 10.0 ** rng.uniform(-3, 1)
        out = call(adam, w, g, m, v, t, 1e-2, (0.9, 0.999), 1e-8, 0.05)
        if not (isinstance(out, tuple) and len(out) == 3):
            raise Wrong("adam must return the tuple (w, m, v)")
        w, m, v = out
        ref.grad = torch.tensor(g)
        opt.step()
        if t in (1, 2, 30):
            yield f"w after step {t} (weight decay 0.05)", w, ref.detach().numpy().copy()


_CH2, _CH5, _CH6 = "02_backprop", "05_batchnorm", "06_layers_by_hand"

TASKS: tuple[Task, ...] = (
    Task("softmax", "numpy_modules", _CH2, ("eq-softmax",),
         "x [B, C] (logits, one sample per row) -> probabilities [B, C], each row "
         "exp(x_i) / sum_k exp(x_k), computed without overflow for large logits",
         _check_softmax, 1e-10, ("x",), (("SoftMaxModule.forward", ("self", "x")),)),
    Task("softmax_backward", "numpy_modules", _CH2, ("eq-softmax-vjp",),
         "dout = dL/d(out) [B, C] and out = softmax(x) [B, C] -> dL/dx [B, C], "
         "without forming the [C, C] Jacobian",
         _check_softmax_backward, TOL, ("dout", "out"),
         (("SoftMaxModule.backward", ("self", "dout")),)),
    Task("cross_entropy", "numpy_modules", _CH2, ("eq-batch-mean",),
         "probs [B, C] (rows of probabilities) and targets [B, C] (one-hot) -> the loss, "
         "a float: the mean over the batch",
         _check_cross_entropy, 1e-10, ("probs", "targets"),
         (("CrossEntropyModule.forward", ("self", "x", "y")),)),
    Task("cross_entropy_backward", "numpy_modules", _CH2, ("eq-minibatch-loss",),
         "probs [B, C] and one-hot targets [B, C] -> dL/d(probs) [B, C] of the mean loss",
         _check_cross_entropy_backward, TOL, ("probs", "targets"),
         (("CrossEntropyModule.backward", ("self", "x", "y")),)),
    Task("softmax_cross_entropy_backward", "numpy_modules", _CH2, ("eq-softmax-ce",),
         "logits [B, C] and one-hot targets [B, C] -> dL/d(logits) [B, C] of the mean "
         "cross-entropy after softmax, fused (no division by a probability)",
         _check_softmax_cross_entropy_backward, TOL, ("logits", "targets"), uses=("softmax",)),
    Task("LinearModule.forward", "numpy_modules", _CH2, ("eq-minibatch-forward",),
         "x [B, in_features] -> out [B, out_features] from params['weight'] "
         "[out_features, in_features] and params['bias'] [out_features]; keep x in self.x "
         "for backward",
         _check_linear_forward, 1e-10, ("self", "x")),
    Task("LinearModule.backward", "numpy_modules", _CH2, ("eq-minibatch-linear",),
         "dout = dL/d(out) [B, out_features] -> dL/dx [B, in_features] (None if "
         "input_grad=False); store grads['weight'] [out_features, in_features] and "
         "grads['bias'] [out_features]",
         _check_linear_backward, TOL, ("self", "dout"), uses=("LinearModule.forward",)),
    Task("ReLUModule.forward", "numpy_modules", _CH2, ("eq-relu",),
         "x [B, D] -> max(0, x) [B, D]; keep what backward needs (e.g. the mask 1[x > 0] "
         "in self.mask)",
         _check_relu_forward, 1e-10, ("self", "x")),
    Task("ReLUModule.backward", "numpy_modules", _CH2, ("eq-relu-vjp",),
         "dout = dL/d(out) [B, D] -> dL/dx [B, D] (0 at x = 0)",
         _check_relu_backward, TOL, ("self", "dout"), uses=("ReLUModule.forward",)),
    Task("CustomBatchNormManualFunction.forward", "batchnorm", _CH5,
         ("eq-bn-mean", "eq-bn-var", "eq-bn-xhat", "eq-bn-y"),
         "input [B, C], gamma [C], beta [C] -> y [B, C]: normalised with the batch's mean and "
         "biased variance, scaled and shifted; ctx.save_for_backward what backward needs",
         _check_bn_forward, 1e-10, ("ctx", "input", "gamma", "beta", "eps")),
    Task("CustomBatchNormManualFunction.backward", "batchnorm", _CH5,
         ("eq-bn-dgamma", "eq-bn-dbeta", "eq-bn-dx"),
         "grad_output = dL/dy [B, C] -> (dL/dinput [B, C], dL/dgamma [C], dL/dbeta [C], "
         "None for eps), and None for each input whose ctx.needs_input_grad is False",
         _check_bn_backward, TOL, ("ctx", "grad_output"),
         uses=("CustomBatchNormManualFunction.forward",)),
    Task("conv2d", "layers", _CH6, ("eq-conv-general", "eq-im2col"),
         "x [N, C_in, H, W], weight [C_out, C_in, k, k], bias [C_out] or None -> "
         "y [N, C_out, H_out, W_out] (im2col helps)",
         _check_conv2d, 1e-10, ("x", "weight", "bias", "stride", "padding")),
    Task("conv2d_backward_input", "layers", _CH6, ("eq-conv-dx",),
         "dout = dL/dy [N, C_out, H_out, W_out], weight [C_out, C_in, k, k], input_size "
         "(H, W) -> dL/dx [N, C_in, H, W]",
         _check_conv2d_backward_input, 1e-10,
         ("dout", "weight", "input_size", "stride", "padding"), uses=("conv2d",)),
    Task("Conv2dModule.forward", "layers", _CH6, ("eq-im2col",),
         "x [N, C_in, H, W] -> y [N, C_out, H_out, W_out] with params['weight'] and "
         "params['bias']; keep what backward needs (e.g. self.cols; self.x_shape is kept for you)",
         _check_conv_forward, 1e-10, ("self", "x"), uses=("conv2d",)),
    Task("Conv2dModule.backward", "layers", _CH6, ("eq-conv-dw", "eq-conv-db", "eq-conv-dx"),
         "dout = dL/dy [N, C_out, H_out, W_out] -> dL/dx [N, C_in, H, W] (None if "
         "input_grad=False); store grads['weight'] [C_out, C_in, k, k] and grads['bias'] "
         "[C_out]",
         _check_conv_backward, 1e-10, ("self", "dout"),
         uses=("Conv2dModule.forward", "conv2d_backward_input")),
    Task("MaxPool2dModule.forward", "layers", _CH6, ("eq-maxpool",),
         "x [N, C, H, W] -> the maximum of each window [N, C, H_out, W_out], padding -inf; "
         "keep what backward needs (e.g. self.argmax; self.x_shape is kept for you)",
         _check_pool_forward, 1e-12, ("self", "x")),
    Task("MaxPool2dModule.backward", "layers", _CH6, ("eq-maxpool-vjp",),
         "dout = dL/dy [N, C, H_out, W_out] -> dL/dx [N, C, H, W], each window's gradient "
         "added at its (first) arg-max",
         _check_pool_backward, 1e-12, ("self", "dout"), uses=("MaxPool2dModule.forward",)),
    Task("DropoutModule.forward", "layers", _CH6, ("eq-dropout",),
         "x [any shape] -> y [x's shape and dtype]: in training, each unit dropped with "
         "probability p (kept where self.rng.random(x.shape) >= p), the kept ones scaled; in "
         "evaluation (self.training False), x; keep what backward needs",
         _check_dropout_forward, 1e-10, ("self", "x")),
    Task("DropoutModule.backward", "layers", _CH6, ("eq-dropout-vjp",),
         "dout = dL/dy [x's shape] -> dL/dx [x's shape], with the forward pass's mask",
         _check_dropout_backward, 1e-10, ("self", "dout"), uses=("DropoutModule.forward",)),
    Task("BatchNorm2dModule.forward", "layers", _CH6, ("eq-bn-xhat", "eq-bn-running"),
         "x [N, C, H, W] -> y [N, C, H, W]: in training normalised per channel with the "
         "batch's statistics, which update self.running_mean and self.running_var "
         "(variance unbiased); in evaluation with the running ones",
         lambda: _check_bn2d(False), 1e-10, ("self", "x")),
    Task("BatchNorm2dModule.backward", "layers", _CH6, ("eq-bn-dx",),
         "dout = dL/dy [N, C, H, W] -> dL/dx [N, C, H, W]; store grads['weight'] (gamma) "
         "and grads['bias'] (beta), each [C]",
         lambda: _check_bn2d(True), 1e-10, ("self", "dout"),
         uses=("BatchNorm2dModule.forward",)),
    Task("adam", "optim", _CH6,
         ("eq-coupled-decay", "eq-adam-moments", "eq-adam-bias-correction", "eq-adam-update"),
         "w, g = dL/dw, m, v [w's shape], step t = 1, 2, ... -> (new w, new m, new v) "
         "[w's shape each], with coupled weight decay and bias correction; the arguments "
         "unchanged",
         _check_adam, 1e-10, ("w", "g", "m", "v", "t", "lr")),
)

BY_NAME = {t.name: t for t in TASKS}


# -- grading one function ------------------------------------------------------------------------

def interface(task: Task) -> str:
    """"yes", or what differs from the interface of the original (UvA 2019) template."""
    params = list(inspect.signature(task.function).parameters)
    if params[:len(task.interface)] != list(task.interface):
        return f"no: parameters {params}, expected {list(task.interface)} first"
    module = importlib.import_module(f"course_lib.{task.module}")
    for name, expected in task.callers:
        obj = module
        for part in name.split("."):
            obj = getattr(obj, part)
        got = tuple(inspect.signature(obj).parameters)
        if got != expected:
            return f"no: {name}{got}, expected {expected}"
    return "yes"


def _compare(task: Task) -> float:
    """Run the task's check; the largest relative error, or :class:`Wrong` naming what
    differs."""
    worst, where = 0.0, ""
    for what, got, expected in task.check():
        got, expected = _numpy(got).astype(np.float64), _numpy(expected).astype(np.float64)
        if got.shape != expected.shape:
            raise Wrong(f"{what} has shape {list(got.shape)}, expected {list(expected.shape)}")
        if not np.all(np.isfinite(got)):
            raise Wrong(f"{what} is not finite (nan or inf)")
        err = relative_error(got, expected)
        if err > worst:
            worst, where = err, what
    if not worst < task.tol:
        raise Wrong(f"{where} differs from the reference (relative error {worst:.1e})")
    return worst


def grade_here(task: Task) -> dict:
    """Grade ``task`` in this process: ``{"implemented", "result", "error", "interface"}``."""
    out = {"implemented": None, "result": "", "error": None, "interface": "?"}
    where = f"course_lib/{task.module}.py"
    try:
        function = task.function
    except AttributeError as exc:
        out["result"] = f"missing: {where} has no {task.name} (renamed or deleted?): {exc}"
        return out
    except SyntaxError as exc:
        out["result"] = (f"error: {exc.filename and os.path.basename(exc.filename)} does not "
                         f"import: SyntaxError at line {exc.lineno}: {exc.msg}")
        return out
    except Exception as exc:
        out["result"] = f"error: {where} does not import: {type(exc).__name__}: {_first_line(exc)}"
        return out
    try:
        out["implemented"] = stub_message(function) is None
        out["interface"] = interface(task)
    except Exception as exc:
        out["interface"] = f"no: {type(exc).__name__}: {_first_line(exc)}"
    try:
        out["error"] = _compare(task)
        out["result"] = "correct"
    except NotImplementedError as exc:
        who = _culprit(exc)
        out["result"] = "not implemented" if who == task.name else f"needs {who}"
    except Wrong as exc:
        out["result"] = f"WRONG: {exc}"
    except Exception as exc:
        out["result"] = f"WRONG: raised {type(exc).__name__}: {_first_line(exc, 200)}"
    return out


def _child(conn, name: str, course: str | None) -> None:
    if course:  # grade the library of another copy of the course (the tests' students)
        import course_lib

        sys.path.insert(0, course)
        course_lib.__path__[:] = [os.path.join(course, "course_lib")]
    try:
        out = grade_here(BY_NAME[name])
    except SystemExit as exc:
        out = {"implemented": True, "result": f"WRONG: called sys.exit({exc.code!r})",
               "error": None, "interface": "?"}
    except BaseException as exc:
        out = {"implemented": True, "result": f"error: {type(exc).__name__}", "error": None,
               "interface": "?"}
    conn.send(out)
    conn.close()


_CONTEXT = None


def _context():
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        # the server imports what every check needs once; each child is a fork of it
        _CONTEXT.set_forkserver_preload(["course_lib._grader_server"])
    return _CONTEXT


@dataclass(frozen=True)
class Grade:
    task: Task
    implemented: bool | None  # None: the module or the function could not be found
    result: str   # "correct", "WRONG: ...", "not implemented", "needs X", "depends on X, ..."
    error: float | None
    interface: str

    @property
    def passed(self) -> bool:
        return self.result == "correct" and self.interface == "yes"


def grade(task: Task, earlier: dict[str, Grade] | None = None,
          timeout: float | None = None, course: str | os.PathLike | None = None) -> Grade:
    """Grade ``task`` in a child process; ``earlier`` holds the grades of the tasks before it
    (a backward pass whose check fails is reported as depending on a wrong forward pass).
    ``course``: the folder of another copy of the course whose library to grade."""
    timeout = TIMEOUT if timeout is None else timeout
    ctx = _context()
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(send, task.name, course and str(course)),
                        daemon=True)
    child.start()
    send.close()
    try:
        if receive.poll(timeout):
            try:
                out = receive.recv()
            except EOFError:
                child.join(5)
                out = {"implemented": True, "error": None, "interface": "?",
                       "result": f"WRONG: its process ended (exit code {child.exitcode}) before "
                                 "the check finished: os._exit, or a crash"}
        else:
            out = {"implemented": True, "error": None, "interface": "?",
                   "result": f"WRONG: timed out after {timeout:g} s (an endless loop?)"}
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
    result = out["result"]
    wrong = [(name, g) for name in task.uses if (g := (earlier or {}).get(name)) is not None
             and not g.passed]
    if wrong and result.startswith("WRONG"):
        name, g = wrong[0]
        state = "wrong" if g.result.startswith(("WRONG", "depends")) else g.result
        result = f"depends on {name}, which is {state} ({result})"
    return Grade(task, out["implemented"], result, out["error"], out["interface"])


def grade_all(names=None, timeout: float | None = None, on_grade=None,
              course: str | os.PathLike | None = None) -> list[Grade]:
    """Grade the tasks (all, or those named), in order; ``on_grade(grade)`` after each."""
    grades: dict[str, Grade] = {}
    for task in TASKS:
        if names and task.name not in names:
            continue
        grades[task.name] = grade(task, grades, timeout, course)
        if on_grade:
            on_grade(grades[task.name])
    return list(grades.values())


def table(grades: list[Grade], interrupted: bool = False) -> str:
    """The grades as a Markdown table: one row per task, graded or not."""
    rows = [("function", "chapter", "implemented", "gradient / reference check",
             "UvA interface")]
    done = {g.task.name: g for g in grades}
    for task in TASKS:
        g = done.get(task.name)
        where = f"{task.module}.{task.name}"
        if g is None:
            rows.append((where, task.chapter[:2], "?", "not graded (interrupted)"
                         if interrupted else "not graded", "?"))
            continue
        rows.append((where, task.chapter[:2],
                     {True: "yes", False: "no", None: "?"}[g.implemented],
                     f"correct (relative error {g.error:.0e})" if g.result == "correct"
                     else g.result, g.interface))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    passed = sum(g.passed for g in grades)
    return "\n".join(lines) + f"\n\n{passed} of {len(TASKS)} functions pass their check."


def main(argv=None) -> int:
    """``scripts/grade.py``: print the table (or JSON); exit 0 only if every task passes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="the tasks to grade (default: all)")
    parser.add_argument("--json", action="store_true", help="print the grades as JSON")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per function")
    args = parser.parse_args(argv)
    grades, interrupted = [], False
    try:
        grade_all(args.names, args.timeout, grades.append)
    except KeyboardInterrupt:
        interrupted = True
    if args.json:
        print(json.dumps({g.task.name: [g.implemented, g.result, g.interface] for g in grades}))
    else:
        print(table(grades, interrupted))
    everything = len(grades) == len(TASKS) and all(g.passed for g in grades)
    return 130 if interrupted else 0 if everything else 1
