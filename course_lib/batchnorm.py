"""Batch normalisation three ways, as in the report's section 3 (chapter 5).

* :class:`CustomBatchNormAutograd`: the forward equations (40)-(43) with tensor operations;
  PyTorch's autograd derives the backward pass.
* :class:`CustomBatchNormManualFunction`: a ``torch.autograd.Function`` whose ``backward``
  is the hand-derived compact formula ``gamma / (B sqrt(var + eps)) * (B dL/dy - dL/dbeta
  - x_hat * dL/dgamma)`` of the chapter.
* :class:`CustomBatchNormManualModule`: a module around that Function.

Beyond the report, the modules keep running statistics like ``torch.nn.BatchNorm1d``
(``momentum=0.1``; the running variance uses the *unbiased* batch variance) and use them
in evaluation mode, and :class:`CustomBatchNorm2d` applies the same Function per channel
of ``[N, C, H, W]`` input, like ``torch.nn.BatchNorm2d``.

Equation numbers are the report's: (40) batch mean, (41) biased batch variance (the
report writes sigma_i where it means sigma_i^2, see the chapter's erratum), (42)
normalisation, (43) scale and shift.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable


def check_input(x: torch.Tensor, n_neurons: int) -> None:
    """Raise ``ValueError`` unless ``x`` is a ``[B, n_neurons]`` batch."""
    if x.dim() != 2 or x.shape[1] != n_neurons:
        raise ValueError(f"expected input of shape [batch_size, {n_neurons}], got {list(x.shape)}")


def check_batch_size(x: torch.Tensor) -> None:
    """Raise ``ValueError`` for a batch of fewer than 2 examples (batch statistics only)."""
    if x.shape[0] < 2:
        raise ValueError(f"BatchNorm in training mode needs at least 2 examples per batch, got "
                         f"input of shape {list(x.shape)}: with one, x_hat = 0 and the output "
                         "is beta whatever the input")


def check_dtype(x: torch.Tensor, gamma: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` has the parameters' dtype (torch's error is cryptic)."""
    if not x.is_floating_point():
        raise ValueError(f"BatchNorm needs floating-point input, got {x.dtype}: convert the "
                         f"input with input.to({gamma.dtype})")
    if x.dtype != gamma.dtype:
        raise ValueError(f"input dtype {x.dtype} does not match the parameters' dtype "
                         f"{gamma.dtype}: convert the module with module.to({x.dtype}) (e.g. "
                         f".double(), .half()) or the input with input.to({gamma.dtype})")


def batch_norm_eval(x, mean, var, gamma, beta, eps):
    """Evaluation mode: eqs. (42)-(43) with fixed (running) statistics instead of the batch's."""
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta


class CustomBatchNormAutograd(nn.Module):
    """``CustomBatchNormAutograd(n_neurons, eps=1e-5, momentum=0.1)``, input ``[B, n_neurons]``.

    Training mode normalises with the batch statistics (eqs. 40-43) and updates the running
    statistics; evaluation mode normalises with the running statistics.
    The backward pass is left to autograd.
    """

    def __init__(self, n_neurons: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.n_neurons, self.eps, self.momentum = n_neurons, eps, momentum
        self.gamma = nn.Parameter(torch.ones(n_neurons))
        self.beta = nn.Parameter(torch.zeros(n_neurons))
        self.register_buffer("running_mean", torch.zeros(n_neurons))
        self.register_buffer("running_var", torch.ones(n_neurons))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        check_input(input, self.n_neurons)
        check_dtype(input, self.gamma)
        if not self.training:
            return batch_norm_eval(input, self.running_mean, self.running_var,
                                   self.gamma, self.beta, self.eps)
        check_batch_size(input)
        self.update_running_stats(input)
        return self.normalize_batch(input)

    def normalize_batch(self, x: torch.Tensor) -> torch.Tensor:
        """Eqs. (40)-(43) with tensor operations."""
        mu = x.mean(dim=0)                                   # (40)
        var = ((x - mu) ** 2).mean(dim=0)                    # (41), biased: 1/B
        x_hat = (x - mu) / torch.sqrt(var + self.eps)        # (42)
        return self.gamma * x_hat + self.beta                # (43)

    @torch.no_grad()
    def update_running_stats(self, x: torch.Tensor) -> None:
        """``running <- (1 - momentum) running + momentum * batch`` (variance unbiased: 1/(B-1))."""
        batch_size = x.shape[0]
        mu = x.mean(dim=0)
        var_unbiased = ((x - mu) ** 2).sum(dim=0) / (batch_size - 1)
        self.running_mean.lerp_(mu, self.momentum)
        self.running_var.lerp_(var_unbiased, self.momentum)

    def extra_repr(self) -> str:
        return f"{self.n_neurons}, eps={self.eps}, momentum={self.momentum}"


class CustomBatchNormManualFunction(torch.autograd.Function):
    """Batch normalisation (training mode) with the hand-derived backward pass.

    ``CustomBatchNormManualFunction.apply(input, gamma, beta, eps=1e-5)`` with ``input``
    ``[B, C]`` and ``gamma``, ``beta`` ``[C]``.
    """

    @staticmethod
    def forward(ctx, input, gamma, beta, eps=1e-5):
        check_input(input, gamma.shape[0])
        check_batch_size(input)
        if gamma.shape != beta.shape:
            raise ValueError(f"gamma and beta differ in shape: {list(gamma.shape)} "
                             f"vs {list(beta.shape)}")
        # BEGIN SOLUTION
        mu = input.mean(dim=0)                               # (40)
        var = ((input - mu) ** 2).mean(dim=0)                # (41)
        inv_std = 1.0 / torch.sqrt(var + eps)
        x_hat = (input - mu) * inv_std                       # (42)
        ctx.save_for_backward(gamma, x_hat, inv_std)
        return gamma * x_hat + beta                          # (43)
        # END SOLUTION

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        # BEGIN SOLUTION
        gamma, x_hat, inv_std = ctx.saved_tensors
        need_input, need_gamma, need_beta = ctx.needs_input_grad[:3]
        # Both are needed for dL/dx, so they are computed even when not returned.
        grad_gamma = (grad_output * x_hat).sum(dim=0)        # sum_s dL/dy^s x_hat^s
        grad_beta = grad_output.sum(dim=0)                   # sum_s dL/dy^s
        grad_input = None
        if need_input:
            batch_size = grad_output.shape[0]
            grad_input = (gamma * inv_std / batch_size) * (
                batch_size * grad_output - grad_beta - x_hat * grad_gamma)
        return (grad_input, grad_gamma if need_gamma else None,
                grad_beta if need_beta else None, None)
        # END SOLUTION


class CustomBatchNormManualModule(CustomBatchNormAutograd):
    """``CustomBatchNormManualModule(n_neurons, eps=1e-5, momentum=0.1)``.

    The same module as :class:`CustomBatchNormAutograd`, but training mode calls
    :class:`CustomBatchNormManualFunction`, so the backward pass is the hand-derived one.
    """

    def normalize_batch(self, x: torch.Tensor) -> torch.Tensor:
        return CustomBatchNormManualFunction.apply(x, self.gamma, self.beta, self.eps)


class CustomBatchNorm2d(CustomBatchNormManualModule):
    """``CustomBatchNorm2d(n_channels, eps=1e-5, momentum=0.1)``: BatchNorm of ``[N, C, H, W]``.

    Every position of every image is one sample of its channel: the input is reshaped to
    ``[N*H*W, C]``, normalised by the 1-D module (same Function, same running statistics
    with ``B = N*H*W``) and reshaped back.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.dim() != 4 or input.shape[1] != self.n_neurons:
            raise ValueError(f"expected input of shape [N, {self.n_neurons}, H, W], "
                             f"got {list(input.shape)}")
        n, c, h, w = input.shape
        rows = input.permute(0, 2, 3, 1).reshape(n * h * w, c)
        out = super().forward(rows)
        return out.reshape(n, h, w, c).permute(0, 3, 1, 2)

