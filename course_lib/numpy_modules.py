"""The NumPy layers of the MLP, each with the backward pass derived in the chapter
"Backpropagation by hand" (``chapters/02_backprop``).

Batches hold one sample per row, as in the chapter's batched formulation (report eq. 39):
a linear layer computes ``X W^T + b``. Every module keeps the original assignment's
interface: ``forward(x) -> out``, ``backward(dout) -> dx``, parameters in
``params['weight' | 'bias']`` and their gradients in ``grads[...]``.

Equation numbers ``(n)`` are the report's; the chapter derives each formula again under
the label given in brackets, e.g. ``[eq-softmax-vjp]``.
"""

from __future__ import annotations

import numpy as np


def _check_batch(name: str, x, what: str = "x") -> None:
    """A NumPy batch ``[B, C]``: a list, or one sample as a 1-D array, is refused by name."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} expects {what} as a NumPy array [batch, classes], got "
                        f"{type(x).__name__}: convert it with np.asarray")
    if x.ndim != 2:
        raise ValueError(f"{name} expects {what} of shape [batch, classes], one sample per row, "
                         f"got shape {x.shape}" + (": for one sample use x[None]" if x.ndim == 1
                                                    else ""))


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax; subtracting the row maximum first keeps ``exp`` from overflowing."""
    _check_batch("softmax", x)
    # BEGIN SOLUTION
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)
    # END SOLUTION


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``log softmax`` by the log-sum-exp trick: finite for any logits, where
    ``log(softmax(x))`` gives ``-inf`` once a probability underflows to 0."""
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax_backward(dout: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``dL/dx~ = dL/dx (diag(x) - x x^T)`` (eq. 29) [eq-softmax-vjp] for every row.

    The Jacobian is never formed: row by row, ``g (diag(x) - x x^T) = x * (g - g.x)``.
    """
    _check_batch("softmax_backward", out, "out")
    if np.shape(dout) != out.shape:
        raise ValueError(f"softmax_backward: dout {np.shape(dout)} and out {out.shape} must "
                         "have the same shape")
    # BEGIN SOLUTION
    return out * (dout - np.sum(dout * out, axis=1, keepdims=True))
    # END SOLUTION


def _check_targets(probs: np.ndarray, targets: np.ndarray) -> None:
    _check_batch("cross-entropy", probs, "its first argument")
    _check_batch("cross-entropy", targets, "one-hot targets (see course_lib.data.one_hot)")
    if probs.shape != targets.shape:
        raise ValueError(f"probabilities {probs.shape} and one-hot targets {targets.shape} "
                         "must both be [batch, classes]; see course_lib.data.one_hot")


def _check_probabilities(probs: np.ndarray, targets: np.ndarray) -> None:
    """Refuse logits passed as probabilities: their log is NaN, or a wrong finite number.

    Only the range is checked, not that rows sum to 1: chapter 02 checks ``-t / x`` on
    unnormalised positive ``x``. The 1e-3 above 1 allows for rounding and for numerical
    gradients' steps; NaN passes, as before.
    """
    _check_targets(probs, targets)
    bad = np.argwhere((probs < 0) | (probs > 1 + 1e-3))
    if len(bad):
        i, j = bad[0]
        raise ValueError(f"cross-entropy expects probabilities in [0, 1], but probs[{i}, {j}] = "
                         f"{probs[i, j]:.4g}: these look like logits. Apply softmax first, or "
                         "use the fused loss on the logits (log_softmax for its value, "
                         "softmax_cross_entropy_backward for its gradient)")


def cross_entropy(probs: np.ndarray, targets: np.ndarray) -> float:
    """Mean over the batch of ``-sum_i t_i log x_i`` for one-hot ``targets``."""
    _check_probabilities(probs, targets)
    # BEGIN SOLUTION
    return float(-np.sum(targets * np.log(probs)) / len(probs))
    # END SOLUTION


def cross_entropy_backward(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``dL/dx = -t / x`` (eq. 3) [eq-ce-grad] for each sample, divided by ``B`` because
    the loss is the batch mean [eq-minibatch-loss]."""
    _check_probabilities(probs, targets)
    # BEGIN SOLUTION
    return -targets / probs / len(probs)
    # END SOLUTION


def _check_dout(module, dout: np.ndarray, out_shape: tuple | None) -> None:
    """``backward`` needs a forward pass first, and ``dout`` of that pass's output shape:
    NumPy would broadcast a wrong one, e.g. ``[B, 1]``, into wrong gradients."""
    name = type(module).__name__
    if out_shape is None:
        raise RuntimeError(f"{name}.backward called before forward")
    if np.shape(dout) != out_shape:
        raise ValueError(f"{name}.backward got dout of shape {np.shape(dout)}, but the forward "
                         f"output has shape {out_shape}: dout = dL/d(output) must match it")


def softmax_cross_entropy_backward(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The fused gradient of cross-entropy after softmax: ``(softmax(x~) - t) / B``
    [eq-softmax-ce]."""
    _check_targets(logits, targets)
    # BEGIN SOLUTION
    return (softmax(logits) - targets) / len(logits)
    # END SOLUTION


class LinearModule:
    """``out = x W^T + b`` with ``W`` of shape ``[out_features, in_features]``.

    Weights are drawn from N(0, ``init_std``^2) (0.0001 in the report), biases are zero.
    """

    def __init__(self, in_features: int, out_features: int, init_std: float = 1e-4,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        rng = rng if rng is not None else np.random.default_rng()
        self.params = {
            "weight": (init_std * rng.standard_normal((out_features, in_features))).astype(dtype),
            "bias": np.zeros(out_features, dtype=dtype),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.x = self.x_shape = None  # the input, and its shape (None before forward)

    def forward(self, x: np.ndarray) -> np.ndarray:
        n_in = self.params["weight"].shape[1]
        if not isinstance(x, np.ndarray):
            raise TypeError(f"LinearModule expects a NumPy array, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != n_in:
            raise ValueError(f"LinearModule expects inputs of shape [batch, {n_in}], got "
                             f"{x.shape} (images must be flattened first: data.flatten)")
        self.x_shape = x.shape
        # BEGIN SOLUTION
        self.x = x
        return x @ self.params["weight"].T + self.params["bias"]
        # END SOLUTION

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Store ``dL/dW = dout^T x`` and ``dL/db = sum of dout's rows`` (eqs. 35, 38 summed
        over the batch) [eq-minibatch-linear], return ``dL/dx = dout W``.

        ``input_grad=False`` skips ``dL/dx`` (and returns ``None``): the first layer's input
        is the data, whose gradient nothing uses.
        """
        _check_dout(self, dout, self.x_shape and (self.x_shape[0], len(self.params["bias"])))
        # BEGIN SOLUTION
        self.grads["weight"] = dout.T @ self.x
        self.grads["bias"] = dout.sum(axis=0)
        return dout @ self.params["weight"] if input_grad else None
        # END SOLUTION


class ReLUModule:
    """``out = max(0, x)``; its Jacobian is ``diag(1[x > 0])`` (eq. 19) [eq-relu-jacobian]."""

    mask = None  # 1[x > 0], set by forward
    x_shape = None  # the input's shape, set by forward

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"ReLUModule expects a NumPy array, got {type(x).__name__}")
        self.x_shape = x.shape
        # BEGIN SOLUTION
        self.mask = x > 0
        return x * self.mask
        # END SOLUTION

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """``dL/dx = dout * 1[x > 0]`` (eq. 32) [eq-relu-vjp]."""
        _check_dout(self, dout, self.x_shape)
        # BEGIN SOLUTION
        return dout * self.mask
        # END SOLUTION


class SoftMaxModule:
    """Row-wise softmax (max-subtracted for stability); backward by eq. 29."""

    out = None  # the probabilities, set by forward

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = softmax(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        _check_dout(self, dout, getattr(self.out, "shape", None))
        return softmax_backward(dout, self.out)


class CrossEntropyModule:
    """Cross-entropy averaged over the batch, for probabilities ``x`` and one-hot ``y``."""

    def forward(self, x: np.ndarray, y: np.ndarray) -> float:
        return cross_entropy(x, y)

    def backward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return cross_entropy_backward(x, y)
