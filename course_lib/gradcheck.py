"""Numerical gradients by float64 central differences, and the relative error used to compare.

Used by the tests and by every derivation chapter: after deriving a backward pass by
hand, the chapter compares it with :func:`numerical_gradient` and asserts that
:func:`relative_error` is small.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                       dout: np.ndarray | None = None, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of ``f`` at ``x``.

    With ``dout=None``, ``f`` must return a scalar and the result is ``df/dx``.
    With ``dout`` given, the result is the gradient of ``sum(f(x) * dout)``, i.e. the
    vector-Jacobian product that a backward pass computes from an upstream gradient.

    ``x`` must be float64 (float32 differences are too coarse for a meaningful check);
    it is perturbed in place and restored.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient needs a float64 array, got {x.dtype}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.asarray(f(x), dtype=np.float64).copy()
        x[i] = old - h
        minus = np.asarray(f(x), dtype=np.float64).copy()
        x[i] = old
        diff = plus - minus if dout is None else np.sum((plus - minus) * dout)
        grad[i] = np.sum(diff) / (2 * h)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``||a - b|| / max(||a|| + ||b||, 1e-300)`` over all entries (0 when both are 0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def torch_vjp(f: Callable, dout, *arrays) -> tuple[np.ndarray, list[np.ndarray]]:
    """PyTorch's reference: ``f(*arrays)`` and the gradients of ``sum(f(*arrays) * dout)``.

    ``arrays`` (NumPy, float64) become tensors that require gradients, ``f`` maps them to one
    tensor (e.g. ``lambda x, w: F.conv2d(x, w, stride=2)``), and autograd computes the
    vector-Jacobian product for each. The one autograd helper of the chapters, the grader
    (``course_lib/grader.py``) and the tests.
    """
    import torch

    ts = [torch.tensor(np.asarray(a), requires_grad=True) for a in arrays]
    out = f(*ts)
    out.backward(torch.as_tensor(np.asarray(dout), dtype=out.dtype))
    return out.detach().numpy(), [t.grad.numpy() for t in ts]
