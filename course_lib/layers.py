"""The NumPy layers of the VGG network, each with the backward pass derived in the chapter
"Layers by hand" (``chapters/06_layers_by_hand``).

The interface is that of :mod:`course_lib.numpy_modules`: ``forward(x) -> out``,
``backward(dout) -> dx``, parameters in ``params`` and their gradients in ``grads``. Images
are ``[N, C, H, W]``, as in PyTorch. Layers that behave differently in training and in
evaluation (dropout, BatchNorm) have a ``training`` flag, set by ``train()`` and ``eval()``.

Nothing loops over pixels in Python: windows are views made by
``numpy.lib.stride_tricks.sliding_window_view``, and the sums over them are matrix products.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .numpy_modules import _check_dout


def _check_images(name: str, x: np.ndarray, channels: int) -> None:
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} expects input of shape [batch, {channels}, height, width], "
                         f"got {x.shape}")


def output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """How many windows of ``kernel_size`` fit, ``stride`` apart, in ``size + 2 padding``."""
    return (size + 2 * padding - kernel_size) // stride + 1


def _pad(x: np.ndarray, top: int, bottom: int, left: int, right: int,
         value: float = 0.0) -> np.ndarray:
    """Pad the last two axes of ``x`` with ``value``; a negative amount crops instead."""
    h, w = x.shape[2:]
    x = x[:, :, max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
    widths = ((0, 0), (0, 0), (max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0)))
    return np.pad(x, widths, constant_values=value)


def windows(x: np.ndarray, kernel_size: int, stride: int, padding: int,
            pad_value: float = 0.0) -> np.ndarray:
    """Every ``kernel_size`` x ``kernel_size`` window of the padded ``x``, ``stride`` apart:
    ``[N, C, H_out, W_out, k, k]``, a view (no copy) of the padded array."""
    p = padding
    xp = _pad(x, p, p, p, p, pad_value) if p else x
    k = kernel_size
    return sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]


def im2col(x: np.ndarray, kernel_size: int, stride: int, padding: int) -> np.ndarray:
    """The patch matrix ``[N H_out W_out, C k k]``: one row per output position, holding the
    window that the kernel sees there [eq-im2col]."""
    w = windows(x, kernel_size, stride, padding)
    n, c, h_out, w_out = w.shape[:4]
    return w.transpose(0, 2, 3, 1, 4, 5).reshape(n * h_out * w_out, c * kernel_size ** 2)


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, stride: int = 1,
           padding: int = 0) -> np.ndarray:
    """The convolution [eq-conv-general] as a linear layer on the patches [eq-im2col]:
    ``im2col(x) W^T + b``, with ``W`` ``[C_out, C_in, k, k]`` flattened to ``[C_out, C_in k k]``."""
    # BEGIN SOLUTION
    n, c_out, k = len(x), weight.shape[0], weight.shape[2]
    h_out, w_out = (output_size(s, k, stride, padding) for s in x.shape[2:])
    out = im2col(x, k, stride, padding) @ weight.reshape(c_out, -1).T
    if bias is not None:
        out += bias
    return np.ascontiguousarray(out.reshape(n, h_out, w_out, c_out).transpose(0, 3, 1, 2))
    # END SOLUTION


def conv2d_backward_input(dout: np.ndarray, weight: np.ndarray, input_size: tuple[int, int],
                          stride: int, padding: int) -> np.ndarray:
    """``dL/dx``: the *full* convolution of ``dout`` with the flipped kernel, the transposed
    convolution [eq-conv-dx].

    ``dout`` is first dilated (``stride - 1`` zeros between its rows and columns), then padded
    by ``k - 1 - padding`` (cropped where that is negative) and, at the far side, to the
    input's size (rows that no window reached get zeros); then correlated with the kernel
    flipped in both spatial axes, input and output channels swapped.
    """
    # BEGIN SOLUTION
    n, c_out, h_out, w_out = dout.shape
    k, (h, w) = weight.shape[2], input_size
    if stride > 1:
        dilated = np.zeros((n, c_out, (h_out - 1) * stride + 1, (w_out - 1) * stride + 1),
                           dtype=dout.dtype)
        dilated[:, :, ::stride, ::stride] = dout
        dout = dilated
    before = k - 1 - padding
    dout = _pad(dout, before, h + k - 1 - before - dout.shape[2],
                before, w + k - 1 - before - dout.shape[3])
    flipped = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # [C_in, C_out, k, k]
    return conv2d(dout, flipped)
    # END SOLUTION


class Conv2dModule:
    """``Conv2dModule(in_channels, out_channels, kernel_size=3, stride=1, padding=1)``.

    ``out = conv2d(x, W, b)`` with ``W`` ``[out_channels, in_channels, k, k]``, drawn from
    N(0, ``init_std``^2) (He's ``sqrt(2 / (in_channels k^2))`` by default); biases zero.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, padding: int = 1, init_std: float | None = None,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        if kernel_size < 1 or stride < 1 or padding < 0:
            raise ValueError(f"need kernel_size >= 1, stride >= 1 and padding >= 0, got "
                             f"{kernel_size}, {stride}, {padding}")
        rng = rng if rng is not None else np.random.default_rng()
        std = np.sqrt(2 / (in_channels * kernel_size ** 2)) if init_std is None else init_std
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.params = {"weight": (std * rng.standard_normal(shape)).astype(dtype),
                       "bias": np.zeros(out_channels, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.stride, self.padding = stride, padding
        self.x_shape = self.cols = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        weight, bias = self.params["weight"], self.params["bias"]
        c_out, c_in, k, _ = weight.shape
        _check_images("Conv2dModule", x, c_in)
        if min(x.shape[2:]) + 2 * self.padding < k:
            raise ValueError(f"Conv2dModule: input {x.shape} with padding {self.padding} is "
                             f"smaller than the {k}x{k} kernel")
        self.x_shape = x.shape
        # BEGIN SOLUTION
        self.cols = im2col(x, k, self.stride, self.padding)  # kept for dL/dW
        n, h_out, w_out = len(x), *(output_size(s, k, self.stride, self.padding)
                                    for s in x.shape[2:])
        out = self.cols @ weight.reshape(c_out, -1).T + bias  # [eq-im2col]
        return np.ascontiguousarray(out.reshape(n, h_out, w_out, c_out).transpose(0, 3, 1, 2))
        # END SOLUTION

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Store ``dL/dW`` (the correlation of the input with ``dout``) [eq-conv-dw] and
        ``dL/db`` (the sum of ``dout`` per channel) [eq-conv-db]; return ``dL/dx``, the
        transposed convolution [eq-conv-dx] (``None`` with ``input_grad=False``)."""
        weight = self.params["weight"]
        c_out = weight.shape[0]
        out_shape = None if self.x_shape is None else (
            self.x_shape[0], c_out, *(output_size(s, weight.shape[2], self.stride, self.padding)
                                      for s in self.x_shape[2:]))
        _check_dout(self, dout, out_shape)
        # BEGIN SOLUTION
        rows = dout.transpose(0, 2, 3, 1).reshape(-1, c_out)  # [N H_out W_out, C_out]
        self.grads["weight"] = (rows.T @ self.cols).reshape(weight.shape)
        self.grads["bias"] = dout.sum(axis=(0, 2, 3))
        if not input_grad:
            return None
        return conv2d_backward_input(dout, weight, self.x_shape[2:], self.stride, self.padding)
        # END SOLUTION


class MaxPool2dModule:
    """``MaxPool2dModule(kernel_size=3, stride=2, padding=1)``: the maximum of each window,
    the padding being ``-inf`` so that it never wins [eq-maxpool]."""

    def __init__(self, kernel_size: int = 3, stride: int = 2, padding: int = 1):
        if not 0 <= padding <= kernel_size // 2:
            raise ValueError(f"padding must be in [0, kernel_size // 2] = [0, "
                             f"{kernel_size // 2}] (as in PyTorch), got {padding}")
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.x_shape = self.argmax = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4:
            raise ValueError(f"MaxPool2dModule expects input of shape [batch, channels, height, "
                             f"width], got {x.shape}")
        self.x_shape = x.shape
        # BEGIN SOLUTION
        k = self.kernel_size
        w = windows(x, k, self.stride, self.padding, pad_value=-np.inf)
        w = w.reshape(*w.shape[:4], k * k)  # each window's k*k values in row-major order
        # argmax takes the *first* maximum of a window at ties, as PyTorch's CPU kernel does.
        self.argmax = w.argmax(axis=-1)
        return np.take_along_axis(w, self.argmax[..., None], axis=-1)[..., 0]
        # END SOLUTION

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Route each window's gradient to its arg-max; windows that overlap add up
        [eq-maxpool-vjp]."""
        k, s, p = self.kernel_size, self.stride, self.padding
        _check_dout(self, dout, None if self.x_shape is None else (
            *self.x_shape[:2], *(output_size(size, k, s, p) for size in self.x_shape[2:])))
        # BEGIN SOLUTION
        n, c, h, w = self.x_shape
        hp, wp = h + 2 * p, w + 2 * p
        h_out, w_out = dout.shape[2:]
        # the arg-max's (row, column) in the padded input
        rows = np.arange(h_out)[:, None] * s + self.argmax // k
        cols = np.arange(w_out)[None, :] * s + self.argmax % k
        images = np.arange(n * c).reshape(n, c, 1, 1)
        flat = (images * hp + rows) * wp + cols  # index into the padded [N, C, Hp, Wp]
        dx = np.bincount(flat.ravel(), weights=dout.ravel(), minlength=n * c * hp * wp)
        return dx.reshape(n, c, hp, wp)[:, :, p:p + h, p:p + w].astype(dout.dtype, copy=False)
        # END SOLUTION


class _Mode:
    """A training/evaluation switch, as ``torch.nn.Module``'s ``train()`` and ``eval()``."""

    training = True

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)


class DropoutModule(_Mode):
    """Inverted dropout: in training, ``out = x * mask / (1 - p)`` with ``mask`` zero with
    probability ``p`` [eq-dropout]; in evaluation, ``out = x``.

    A unit is kept where a uniform draw ``u >= p``, as in ``mlp_grid.StackedMLP``.
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None):
        if not 0 <= p < 1:
            raise ValueError(f"dropout rate must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng if rng is not None else np.random.default_rng()
        self.scale = self.x_shape = None  # mask / (1 - p) (1 in evaluation), the input's shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"DropoutModule expects a NumPy array, got {type(x).__name__}")
        self.x_shape = x.shape
        # BEGIN SOLUTION
        if not self.training or self.p == 0:
            self.scale = np.ones((), dtype=x.dtype)
            return x
        self.scale = ((self.rng.random(x.shape) >= self.p) / (1 - self.p)).astype(x.dtype)
        return x * self.scale
        # END SOLUTION

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """``dL/dx = dout * mask / (1 - p)``: the same scaled mask [eq-dropout-vjp]."""
        _check_dout(self, dout, self.x_shape)
        # BEGIN SOLUTION
        return dout * self.scale
        # END SOLUTION


class BatchNorm2dModule(_Mode):
    """``BatchNorm2dModule(channels, eps=1e-5, momentum=0.1)``: ``torch.nn.BatchNorm2d`` in
    NumPy. Every position of every image is one sample of its channel.

    Training normalises with the batch's mean and biased variance [eq-bn-xhat] and updates
    the running statistics (``running <- (1 - momentum) running + momentum batch``, the
    variance unbiased); evaluation normalises with the running statistics. ``params`` are
    ``weight`` (gamma) and ``bias`` (beta), as in PyTorch.
    """

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1,
                 dtype=np.float32):
        self.eps, self.momentum = eps, momentum
        self.params = {"weight": np.ones(channels, dtype=dtype),
                       "bias": np.zeros(channels, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.running_mean = np.zeros(channels, dtype=dtype)
        self.running_var = np.ones(channels, dtype=dtype)
        self.x_hat = self.inv_std = self.x_shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        _check_images("BatchNorm2dModule", x, len(self.params["weight"]))
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] < 2:
            raise ValueError(f"BatchNorm2dModule in training mode needs more than one value "
                             f"per channel, got input of shape {x.shape}")
        self.x_shape = x.shape
        # BEGIN SOLUTION
        axes, m = (0, 2, 3), x.shape[0] * x.shape[2] * x.shape[3]
        if self.training:
            mean, var = x.mean(axis=axes), x.var(axis=axes)  # var: biased, 1/m
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = ((1 - self.momentum) * self.running_var
                                + self.momentum * var * m / (m - 1))
        else:
            mean, var = self.running_mean, self.running_var
        self.inv_std = (1 / np.sqrt(var + self.eps))[:, None, None]
        self.x_hat = (x - mean[:, None, None]) * self.inv_std
        gamma, beta = self.params["weight"][:, None, None], self.params["bias"][:, None, None]
        return gamma * self.x_hat + beta
        # END SOLUTION

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """``dL/dgamma = sum dout x_hat``, ``dL/dbeta = sum dout`` per channel; in training
        ``dL/dx = gamma / (m sqrt(var + eps)) (m dout - dL/dbeta - x_hat dL/dgamma)``
        [eq-bn-dx] with ``m`` values per channel, in evaluation ``gamma dout / sqrt(var + eps)``."""
        _check_dout(self, dout, self.x_shape)
        # BEGIN SOLUTION
        axes, m = (0, 2, 3), dout.shape[0] * dout.shape[2] * dout.shape[3]
        self.grads["weight"] = (dout * self.x_hat).sum(axis=axes)
        self.grads["bias"] = dout.sum(axis=axes)
        scale = self.params["weight"][:, None, None] * self.inv_std
        if not self.training:
            return scale * dout
        return scale / m * (m * dout - self.grads["bias"][:, None, None]
                            - self.x_hat * self.grads["weight"][:, None, None])
        # END SOLUTION
