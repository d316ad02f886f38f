"""The assignment edition's grader: which functions a student writes, and how each is checked.

``scripts/make_assignment.py OUT`` writes a copy of the course in which the body of every
function of :data:`TASKS` (the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION``) is
replaced by ``raise NotImplementedError("<what to implement>; see chapter N, eq. (N.M)")``,
and sets :data:`EDITION` to ``"student"``. The same chapters then grade instead of assert:

* :func:`check` compares two results (arrays, or functions returning them). In the reference
  edition it prints the relative error and asserts it; in the student edition it reports
  "correct", "WRONG" (with the relative error) or "not implemented yet", and goes on.
* :func:`graded` does the same for a block of code with its own asserts.
* :func:`require` stops a training chapter with one message naming the functions it needs
  that are not written yet.
* :func:`grade` runs every task's own check, for ``tests/test_assignment.py``'s table.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import numpy as np

from .gradcheck import numerical_gradient, relative_error

EDITION = "reference"  # "student" in the edition that scripts/make_assignment.py writes

TOL = 1e-7  # relative error below which an analytical gradient counts as right


# -- the chapters' checks ------------------------------------------------------------------------

def _value(x):
    return x() if callable(x) else x


def _culprit(err: NotImplementedError) -> str:
    """The function whose stub raised: its message starts with the function's name."""
    return str(err).split("(", 1)[0].strip() or "a function"


def check(name: str, analytical, reference, tol: float = TOL) -> float | None:
    """Print the relative error between two results; assert it is below ``tol``.

    Either result may be a function without arguments that computes it: in the student
    edition, a stub that raises then reports "not implemented yet" and the chapter goes on.
    """
    if EDITION != "student":
        err = relative_error(_value(analytical), _value(reference))
        print(f"{name:<62s} relative error {err:.1e}")
        assert err < tol, f"{name}: relative error {err:.2e} is not below {tol:.0e}"
        return err
    global _not_correct
    try:
        err = relative_error(_value(analytical), _value(reference))
    except NotImplementedError as exc:
        print(f"{name:<62s} not implemented yet ({_culprit(exc)})")
        _not_correct += 1
        return None
    except Exception as exc:  # a student's code may fail in any way: report it, go on
        print(f"{name:<62s} WRONG: {type(exc).__name__}: {exc}")
        _not_correct += 1
        return None
    _not_correct += not err < tol
    verdict = "correct" if err < tol else f"WRONG (above {tol:.0e})"
    print(f"{name:<62s} relative error {err:.1e}: {verdict}")
    return err


_not_correct = 0  # how many checks of the student edition failed so far


@contextmanager
def graded(name: str):
    """A block of checks. In the reference edition it changes nothing; in the student edition
    a stub or a failed assert inside it is reported under ``name``, and the chapter goes on."""
    if EDITION != "student":
        yield
        return
    before = _not_correct
    try:
        yield
    except NotImplementedError as exc:
        print(f"{name}: not implemented yet ({_culprit(exc)})")
    except Exception as exc:
        print(f"{name}: WRONG: {type(exc).__name__}: {exc}")
    else:
        if _not_correct == before:  # a failed check inside has said so already
            print(f"{name}: correct")


@contextmanager
def implemented_only(variants: dict):
    """For the block, leave out of ``variants`` (name: a ``torch.nn`` module class taking a
    number of features) each one whose forward or backward pass is not written yet; restore
    it afterwards. Changes nothing in the reference edition."""
    original = dict(variants)
    if EDITION == "student":
        torch = _torch()
        for name, cls in original.items():
            try:
                cls(3)(torch.randn(4, 3, requires_grad=True)).sum().backward()
            except NotImplementedError as exc:
                print(f"{name}: left out, not implemented yet ({_culprit(exc)})")
                del variants[name]
            except Exception as exc:
                print(f"{name}: left out, WRONG: {type(exc).__name__}: {exc}")
                del variants[name]
    try:
        yield variants
    finally:
        variants.clear()
        variants.update(original)


def stub_message(function) -> str | None:
    """The message of the ``raise NotImplementedError("...")`` that is ``function``'s body in
    the student edition, or ``None`` when it is implemented."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                and getattr(node.exc.func, "id", None) == "NotImplementedError"
                and node.exc.args and isinstance(node.exc.args[0], ast.Constant)):
            return node.exc.args[0].value
    return None


def require(*needs) -> None:
    """Stop with one message if a function that a chapter needs is not implemented yet.

    Each of ``needs`` is a function, or a chapter's name (``"02_backprop"``) for all the
    functions of :data:`TASKS` derived in it. (In the reference edition nothing is missing.)
    """
    functions = []
    for need in needs:
        functions += [t.function for t in TASKS if t.chapter == need] if isinstance(need, str) \
            else [need]
    missing = [msg for msg in map(stub_message, functions) if msg]
    if missing:
        raise NotImplementedError(
            "The rest of this chapter needs functions that are not implemented yet:\n"
            + "".join(f"  - {msg}\n" for msg in missing)
            + "Implement them (see ASSIGNMENT.md); `pytest tests/test_assignment.py` grades "
              "them, then run this chapter again.")


# -- the tasks -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Task:
    """One function a student writes: where it is, what it computes, how it is graded."""

    name: str                  # qualified name in its module, e.g. "LinearModule.backward"
    module: str                # its module in course_lib
    chapter: str               # the chapter whose checks grade it
    labels: tuple[str, ...]    # the equations to implement, by their labels in that chapter
    what: str                  # its inputs and outputs, with shapes
    check: Callable[[], float]  # its relative error against a reference (raises if it fails)
    tol: float = TOL
    interface: tuple[str, ...] = ()  # parameter names that the UvA template fixes

    @property
    def function(self):
        obj = importlib.import_module(f"course_lib.{self.module}")
        for part in self.name.split("."):
            obj = getattr(obj, part)
        return obj


def _rng():
    return np.random.default_rng(1234)


def _torch():
    import torch
    return torch


def _autograd(f, dout, *arrays):
    """PyTorch's output of ``f`` and the gradients of ``sum(f(*arrays) * dout)``, float64."""
    torch = _torch()
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = f(*ts)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


def _worst(*pairs) -> float:
    return max(relative_error(a, b) for a, b in pairs)


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
    rng = _rng()
    x = 3 * rng.standard_normal((6, 9))
    x[0] += 1000.0  # a row whose exp overflows unless the maximum is subtracted
    torch = _torch()
    return relative_error(_nm().softmax(x), torch.softmax(torch.tensor(x), dim=1).numpy())


def _check_softmax_backward():
    rng, torch = _rng(), _torch()
    x, g = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    probs = torch.softmax(torch.tensor(x), dim=1).numpy()
    _, (ref,) = _autograd(lambda t: torch.softmax(t, dim=1), g, x)
    return relative_error(_nm().softmax_backward(g, probs), ref)


def _check_cross_entropy():
    rng, torch = _rng(), _torch()
    p, t = _probs(rng)
    ref = torch.nn.functional.nll_loss(torch.tensor(np.log(p)), torch.tensor(t.argmax(1)))
    return relative_error(_nm().cross_entropy(p, t), ref.item())


def _check_cross_entropy_backward():
    rng, torch = _rng(), _torch()
    p, t = _probs(rng)
    _, (ref,) = _autograd(lambda q: torch.nn.functional.nll_loss(
        torch.log(q), torch.tensor(t.argmax(1))), np.array(1.0), p)
    return relative_error(_nm().cross_entropy_backward(p, t), ref)


def _check_softmax_cross_entropy_backward():
    rng, torch = _rng(), _torch()
    x, t = 2 * rng.standard_normal((5, 7)), np.eye(7)[rng.integers(0, 7, 5)]
    _, (ref,) = _autograd(lambda z: torch.nn.functional.cross_entropy(
        z, torch.tensor(t.argmax(1))), np.array(1.0), x)
    return relative_error(_nm().softmax_cross_entropy_backward(x, t), ref)


def _linear(rng):
    layer = _nm().LinearModule(5, 4, init_std=1.0, rng=rng, dtype=np.float64)
    layer.params["bias"] = rng.standard_normal(4)
    return layer


def _check_linear_forward():
    rng, torch = _rng(), _torch()
    layer, x = _linear(rng), rng.standard_normal((6, 5))
    ref = torch.nn.functional.linear(*map(torch.tensor, (x, layer.params["weight"],
                                                          layer.params["bias"])))
    return relative_error(layer.forward(x), ref.numpy())


def _check_linear_backward():
    rng, torch = _rng(), _torch()
    layer, x, g = _linear(rng), rng.standard_normal((6, 5)), rng.standard_normal((6, 4))
    layer.forward(x)
    dx = layer.backward(g)
    _, (rdx, rdw, rdb) = _autograd(torch.nn.functional.linear, g, x, layer.params["weight"],
                                   layer.params["bias"])
    return _worst((dx, rdx), (layer.grads["weight"], rdw), (layer.grads["bias"], rdb))


def _away_from_zero(rng, shape):
    x = rng.standard_normal(shape)
    return x + 0.1 * np.sign(x)  # no central difference crosses the ReLU's kink


def _check_relu_forward():
    x = _away_from_zero(_rng(), (5, 8))
    return relative_error(_nm().ReLUModule().forward(x), np.where(x > 0, x, 0.0))


def _check_relu_backward():
    rng = _rng()
    x, g = _away_from_zero(rng, (5, 8)), rng.standard_normal((5, 8))
    relu = _nm().ReLUModule()
    relu.forward(x)
    return relative_error(relu.backward(g), numerical_gradient(
        lambda v: np.where(v > 0, v, 0.0), x.copy(), g))


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
    return relative_error(CustomBatchNormManualFunction.apply(x, gamma, beta, 1e-5).numpy(),
                          ref.numpy())


def _check_bn_backward():
    from .batchnorm import CustomBatchNormManualFunction
    torch = _torch()
    x, gamma, beta, dy = _bn_inputs()
    inputs = [t.clone().requires_grad_(True) for t in (x, gamma, beta)]
    got = torch.autograd.grad(CustomBatchNormManualFunction.apply(*inputs, 1e-5), inputs, dy)
    ref = torch.autograd.grad(torch.nn.functional.batch_norm(
        inputs[0], None, None, inputs[1], inputs[2], training=True, eps=1e-5), inputs, dy)
    return _worst(*((a.numpy(), b.numpy()) for a, b in zip(got, ref)))


_CONV_CASES = ((3, 1, 1), (3, 2, 1), (2, 2, 0), (4, 3, 2))  # kernel size, stride, padding


def _check_conv2d():
    rng, F = _rng(), _torch().nn.functional
    worst = 0.0
    for k, s, p in _CONV_CASES:
        x, w, b = (rng.standard_normal(shape) for shape in ((2, 3, 9, 8), (4, 3, k, k), (4,)))
        ref = F.conv2d(*map(_torch().tensor, (x, w, b)), stride=s, padding=p).numpy()
        worst = max(worst, relative_error(_layers().conv2d(x, w, b, stride=s, padding=p), ref))
    return worst


def _check_conv2d_backward_input():
    rng, torch = _rng(), _torch()
    worst = 0.0
    for k, s, p in _CONV_CASES:
        x, w = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, k, k))
        out = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), stride=s, padding=p)
        g = rng.standard_normal(out.shape)
        _, (ref, _) = _autograd(partial(torch.nn.functional.conv2d, stride=s, padding=p),
                                g, x, w)
        worst = max(worst, relative_error(
            _layers().conv2d_backward_input(g, w, x.shape[2:], s, p), ref))
    return worst


def _conv_module(rng):
    conv = _layers().Conv2dModule(3, 4, kernel_size=3, stride=2, padding=1, init_std=1.0,
                                  rng=rng, dtype=np.float64)
    conv.params["bias"] = rng.standard_normal(4)
    return conv, rng.standard_normal((2, 3, 7, 6))


def _conv_reference(conv, x, g):
    torch = _torch()
    return _autograd(lambda a, w, b: torch.nn.functional.conv2d(a, w, b, stride=2, padding=1),
                     g, x, conv.params["weight"], conv.params["bias"])


def _check_conv_forward():
    rng = _rng()
    conv, x = _conv_module(rng)
    y = conv.forward(x)
    ref, _ = _conv_reference(conv, x, np.ones((2, 4, 4, 3)))
    return relative_error(y, ref)


def _check_conv_backward():
    rng = _rng()
    conv, x = _conv_module(rng)
    g = rng.standard_normal((2, 4, 4, 3))
    conv.forward(x)
    dx = conv.backward(g)
    _, (rdx, rdw, rdb) = _conv_reference(conv, x, g)
    return _worst((dx, rdx), (conv.grads["weight"], rdw), (conv.grads["bias"], rdb))


def _pool_input(rng):
    return rng.permutation(2 * 3 * 9 * 9).reshape(2, 3, 9, 9) / 100.0  # no ties


def _check_pool_forward():
    torch = _torch()
    x = _pool_input(_rng())
    ref = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2, 1).numpy()
    return relative_error(_layers().MaxPool2dModule(3, 2, 1).forward(x), ref)


def _check_pool_backward():
    rng, torch = _rng(), _torch()
    x = _pool_input(rng)
    pool = _layers().MaxPool2dModule(3, 2, 1)
    g = rng.standard_normal(pool.forward(x).shape)
    _, (ref,) = _autograd(lambda t: torch.nn.functional.max_pool2d(t, 3, 2, 1), g, x)
    return relative_error(pool.backward(g), ref)


def _check_dropout_forward():
    """Kept units are scaled by 1 / (1 - p), the share kept is 1 - p within 4 standard errors,
    and evaluation mode returns the input."""
    rng, p = _rng(), 0.3
    x = _away_from_zero(rng, (200, 100))
    drop = _layers().DropoutModule(p, rng=np.random.default_rng(5))
    y = drop.forward(x)
    kept = y != 0
    share, se = kept.mean(), np.sqrt(p * (1 - p) / x.size)
    err = relative_error(y[kept], x[kept] / (1 - p))
    if abs(share - (1 - p)) > 4 * se:
        err = max(err, 1.0)
    return max(err, relative_error(drop.eval().forward(x), x))


def _check_dropout_backward():
    """With the forward pass's mask: dL/dx = dL/dy * y / x; in evaluation dL/dx = dL/dy."""
    rng = _rng()
    x, g = _away_from_zero(rng, (20, 30)), rng.standard_normal((20, 30))
    drop = _layers().DropoutModule(0.4, rng=np.random.default_rng(6))
    y = drop.forward(x)
    err = relative_error(drop.backward(g), g * y / x)
    drop.eval().forward(x)
    return max(err, relative_error(drop.backward(g), g))


def _check_bn2d(backward: bool):
    """Against ``torch.nn.BatchNorm2d`` in training (after one batch moved the running
    statistics) and in evaluation."""
    rng, torch = _rng(), _torch()
    x, g = 2 * rng.standard_normal((4, 5, 3, 3)) + 1, rng.standard_normal((4, 5, 3, 3))
    worst = 0.0
    for training in (True, False):
        bn = _layers().BatchNorm2dModule(5, dtype=np.float64)
        ref = torch.nn.BatchNorm2d(5).double()
        bn.forward(x)
        ref(torch.tensor(x))
        bn.train(training)
        ref.train(training)
        y = bn.forward(x)
        out, (rdx,) = _autograd(ref, g, x)
        if backward:
            dx = bn.backward(g)
            rdw, rdb = ref.weight.grad.numpy(), ref.bias.grad.numpy()
            worst = max(worst, _worst((dx, rdx), (bn.grads["weight"], rdw),
                                      (bn.grads["bias"], rdb)))
        else:
            worst = max(worst, _worst((y, out), (bn.running_mean, ref.running_mean.numpy()),
                                      (bn.running_var, ref.running_var.numpy())))
    return worst


def _check_adam():
    from .optim import adam
    rng, torch = _rng(), _torch()
    w0 = rng.standard_normal((6, 4))
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    ref = torch.tensor(w0, requires_grad=True)
    opt = torch.optim.Adam([ref], lr=1e-2, weight_decay=0.05)
    worst = 0.0
    for t in range(1, 31):
        g = rng.standard_normal(w.shape) * 10.0 ** rng.uniform(-3, 1)
        w, m, v = adam(w, g, m, v, t, lr=1e-2, weight_decay=0.05)
        ref.grad = torch.tensor(g)
        opt.step()
        worst = max(worst, relative_error(w, ref.detach().numpy()))
    return worst


_CH2, _CH5, _CH6 = "02_backprop", "05_batchnorm", "06_layers_by_hand"

TASKS: tuple[Task, ...] = (
    Task("softmax", "numpy_modules", _CH2, ("eq-softmax-entry",),
         "x [B, C] (logits, one sample per row) -> probabilities [B, C], each row "
         "exp(x_i) / sum_k exp(x_k), computed without overflow for large logits",
         _check_softmax, 1e-10, ("x",)),
    Task("softmax_backward", "numpy_modules", _CH2, ("eq-softmax-vjp",),
         "dout = dL/d(out) [B, C] and out = softmax(x) [B, C] -> dL/dx [B, C], "
         "without forming the [C, C] Jacobian",
         _check_softmax_backward, TOL, ("dout", "out")),
    Task("cross_entropy", "numpy_modules", _CH2, ("eq-batch-mean",),
         "probs [B, C] (rows of probabilities) and targets [B, C] (one-hot) -> the loss, "
         "a float: the mean over the batch",
         _check_cross_entropy, 1e-10, ("probs", "targets")),
    Task("cross_entropy_backward", "numpy_modules", _CH2, ("eq-minibatch-loss",),
         "probs [B, C] and one-hot targets [B, C] -> dL/d(probs) [B, C] of the mean loss",
         _check_cross_entropy_backward, TOL, ("probs", "targets")),
    Task("softmax_cross_entropy_backward", "numpy_modules", _CH2, ("eq-softmax-ce",),
         "logits [B, C] and one-hot targets [B, C] -> dL/d(logits) [B, C] of the mean "
         "cross-entropy after softmax, fused (no division by a probability)",
         _check_softmax_cross_entropy_backward, TOL, ("logits", "targets")),
    Task("LinearModule.forward", "numpy_modules", _CH2, ("eq-minibatch-forward",),
         "x [B, in_features] -> out [B, out_features] from params['weight'] "
         "[out_features, in_features] and params['bias'] [out_features]; keep x in self.x "
         "for backward",
         _check_linear_forward, 1e-10, ("self", "x")),
    Task("LinearModule.backward", "numpy_modules", _CH2, ("eq-minibatch-linear",),
         "dout = dL/d(out) [B, out_features] -> dL/dx [B, in_features] (None if "
         "input_grad=False); store grads['weight'] [out_features, in_features] and "
         "grads['bias'] [out_features]",
         _check_linear_backward, TOL, ("self", "dout")),
    Task("ReLUModule.forward", "numpy_modules", _CH2, ("eq-relu-entry",),
         "x [B, D] -> max(0, x) [B, D]; keep what backward needs (e.g. the mask 1[x > 0] "
         "in self.mask)",
         _check_relu_forward, 1e-10, ("self", "x")),
    Task("ReLUModule.backward", "numpy_modules", _CH2, ("eq-relu-vjp",),
         "dout = dL/d(out) [B, D] -> dL/dx [B, D] (0 at x = 0)",
         _check_relu_backward, TOL, ("self", "dout")),
    Task("CustomBatchNormManualFunction.forward", "batchnorm", _CH5,
         ("eq-bn-mean", "eq-bn-var", "eq-bn-xhat", "eq-bn-y"),
         "input [B, C], gamma [C], beta [C] -> y [B, C]: normalised with the batch's mean and "
         "biased variance, scaled and shifted; ctx.save_for_backward what backward needs",
         _check_bn_forward, 1e-10, ("ctx", "input", "gamma", "beta", "eps")),
    Task("CustomBatchNormManualFunction.backward", "batchnorm", _CH5,
         ("eq-bn-dgamma", "eq-bn-dbeta", "eq-bn-dx"),
         "grad_output = dL/dy [B, C] -> (dL/dinput [B, C], dL/dgamma [C], dL/dbeta [C], "
         "None for eps), and None for each input whose ctx.needs_input_grad is False",
         _check_bn_backward, TOL, ("ctx", "grad_output")),
    Task("conv2d", "layers", _CH6, ("eq-conv-general", "eq-im2col"),
         "x [N, C_in, H, W], weight [C_out, C_in, k, k], bias [C_out] or None -> "
         "y [N, C_out, H_out, W_out] (im2col helps)",
         _check_conv2d, 1e-10, ("x", "weight", "bias", "stride", "padding")),
    Task("conv2d_backward_input", "layers", _CH6, ("eq-conv-dx",),
         "dout = dL/dy [N, C_out, H_out, W_out], weight [C_out, C_in, k, k], input_size "
         "(H, W) -> dL/dx [N, C_in, H, W]",
         _check_conv2d_backward_input, 1e-10,
         ("dout", "weight", "input_size", "stride", "padding")),
    Task("Conv2dModule.forward", "layers", _CH6, ("eq-im2col",),
         "x [N, C_in, H, W] -> y [N, C_out, H_out, W_out] with params['weight'] and "
         "params['bias']; keep self.x_shape and what backward needs (e.g. self.cols)",
         _check_conv_forward, 1e-10, ("self", "x")),
    Task("Conv2dModule.backward", "layers", _CH6, ("eq-conv-dw", "eq-conv-db", "eq-conv-dx"),
         "dout = dL/dy [N, C_out, H_out, W_out] -> dL/dx [N, C_in, H, W] (None if "
         "input_grad=False); store grads['weight'] [C_out, C_in, k, k] and grads['bias'] "
         "[C_out]",
         _check_conv_backward, 1e-10, ("self", "dout")),
    Task("MaxPool2dModule.forward", "layers", _CH6, ("eq-maxpool",),
         "x [N, C, H, W] -> the maximum of each window [N, C, H_out, W_out], padding -inf; "
         "keep what backward needs (e.g. self.x_shape and self.argmax)",
         _check_pool_forward, 1e-12, ("self", "x")),
    Task("MaxPool2dModule.backward", "layers", _CH6, ("eq-maxpool-vjp",),
         "dout = dL/dy [N, C, H_out, W_out] -> dL/dx [N, C, H, W], each window's gradient "
         "added at its (first) arg-max",
         _check_pool_backward, 1e-12, ("self", "dout")),
    Task("DropoutModule.forward", "layers", _CH6, ("eq-dropout",),
         "x [any shape] -> y [x's shape]: in training, each unit dropped with probability p "
         "(kept where self.rng.random(x.shape) >= p), the kept ones scaled; in evaluation "
         "(self.training False), x; keep what backward needs",
         _check_dropout_forward, 1e-10, ("self", "x")),
    Task("DropoutModule.backward", "layers", _CH6, ("eq-dropout-vjp",),
         "dout = dL/dy [x's shape] -> dL/dx [x's shape], with the forward pass's mask",
         _check_dropout_backward, 1e-10, ("self", "dout")),
    Task("BatchNorm2dModule.forward", "layers", _CH6, ("eq-bn-xhat", "eq-bn-running"),
         "x [N, C, H, W] -> y [N, C, H, W]: in training normalised per channel with the "
         "batch's statistics, which update self.running_mean and self.running_var "
         "(variance unbiased); in evaluation with the running ones",
         lambda: _check_bn2d(False), 1e-10, ("self", "x")),
    Task("BatchNorm2dModule.backward", "layers", _CH6, ("eq-bn-dx",),
         "dout = dL/dy [N, C, H, W] -> dL/dx [N, C, H, W]; store grads['weight'] (gamma) "
         "and grads['bias'] (beta), each [C]",
         lambda: _check_bn2d(True), 1e-10, ("self", "dout")),
    Task("adam", "optim", _CH6,
         ("eq-coupled-decay", "eq-adam-moments", "eq-adam-bias-correction", "eq-adam-update"),
         "w, g = dL/dw, m, v [w's shape], step t = 1, 2, ... -> (new w, new m, new v) "
         "[w's shape each], with coupled weight decay and bias correction; the arguments "
         "unchanged",
         _check_adam, 1e-10, ("w", "g", "m", "v", "t", "lr")),
)


# -- the grader ----------------------------------------------------------------------------------

def interface(task: Task) -> str:
    """"yes", or what differs from the interface of the original (UvA 2019) template."""
    try:
        params = list(inspect.signature(task.function).parameters)
    except (AttributeError, TypeError, ValueError) as exc:
        return f"no: {exc}"
    if params[:len(task.interface)] != list(task.interface):
        return f"no: parameters {params}, expected {list(task.interface)} first"
    if task.name.startswith("LinearModule"):
        layer = _nm().LinearModule(3, 2)
        shapes = {k: v.shape for k, v in layer.params.items()}
        if shapes != {"weight": (2, 3), "bias": (2,)} or set(layer.grads) != set(shapes):
            return f"no: LinearModule(3, 2).params has shapes {shapes}"
    wrappers = {"softmax": ("SoftMaxModule.forward", ["self", "x"]),
                "softmax_backward": ("SoftMaxModule.backward", ["self", "dout"]),
                "cross_entropy": ("CrossEntropyModule.forward", ["self", "x", "y"]),
                "cross_entropy_backward": ("CrossEntropyModule.backward", ["self", "x", "y"])}
    if task.name in wrappers:
        name, expected = wrappers[task.name]
        cls, method = name.split(".")
        got = list(inspect.signature(getattr(getattr(_nm(), cls), method)).parameters)
        if got != expected:
            return f"no: {name}{tuple(got)}, expected {tuple(expected)}"
    return "yes"


@dataclass(frozen=True)
class Grade:
    task: Task
    implemented: bool
    result: str       # "correct", "WRONG (...)", "not implemented", "needs X", "error: ..."
    error: float | None
    interface: str

    @property
    def passed(self) -> bool:
        return self.result == "correct"


def grade(task: Task) -> Grade:
    implemented = stub_message(task.function) is None
    err = None
    try:
        err = float(task.check())
    except NotImplementedError as exc:
        who = _culprit(exc)
        result = "not implemented" if who == task.name else f"needs {who}"
    except Exception as exc:
        result = f"error: {type(exc).__name__}: {str(exc)[:60]}"
    else:
        result = "correct" if err < task.tol else f"WRONG (relative error {err:.1e})"
    return Grade(task, implemented, result, err, interface(task))


def table(grades: list[Grade]) -> str:
    """The grades as a Markdown table: one row per function."""
    rows = [("function", "chapter", "implemented", "gradient / reference check",
             "UvA interface")]
    rows += [(f"{g.task.module}.{g.task.name}", g.task.chapter[:2],
              "yes" if g.implemented else "no",
              f"correct (relative error {g.error:.0e})" if g.passed else g.result, g.interface)
             for g in grades]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    passed = sum(g.passed for g in grades)
    return "\n".join(lines) + f"\n\n{passed} of {len(grades)} functions pass their check."
