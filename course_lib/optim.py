"""The optimisers' update rules, written as pure functions (chapter "Layers by hand").

Each rule takes a parameter ``w``, its gradient ``g`` and its state, and returns the new ones
without changing its arguments. The same lines update a NumPy array, a torch tensor, or a
stack of ``K`` parameters ``[K, ...]`` whose ``lr`` and ``weight_decay`` are ``[K, 1, ...]``
arrays (``mlp_grid.StackedAdam`` uses them so).

Both rules use *coupled* L2 weight decay, as ``torch.optim.SGD`` and ``torch.optim.Adam`` do
with ``weight_decay``: the decay ``weight_decay * w`` is added to the gradient
[eq-coupled-decay]. The order of the operations is that of PyTorch's single-tensor
implementations, so that float64 results agree with theirs to rounding.
"""

from __future__ import annotations

import math

import numpy as np


def sgd(w, g, lr, weight_decay=0.0):
    """Plain SGD with coupled weight decay: ``w - lr (g + weight_decay w)`` [eq-coupled-decay]."""
    return w - lr * (g + weight_decay * w)


def sgd_nesterov(w, g, b, lr, momentum: float = 0.9, weight_decay=0.0):
    """SGD with Nesterov momentum [eq-nesterov]; returns ``(w, b)``.

    ``b`` is the momentum buffer before this step (zeros before the first). The step goes
    along the gradient plus the momentum *after* this step's update, a look ahead to where
    the momentum is taking the weights, as ``torch.optim.SGD(nesterov=True)`` does.
    """
    g = g + weight_decay * w       # [eq-coupled-decay]
    b = momentum * b + g           # the momentum buffer
    return w - lr * (g + momentum * b), b


def adam(w, g, m, v, t: int, lr, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
         weight_decay=0.0):
    """Step ``t`` (1, 2, ...) of Adam [eq-adam-moments] [eq-adam-update]; returns ``(w, m, v)``.

    ``m`` and ``v`` are the moving averages of the gradient and of its square before this
    step (zeros before step 1). Dividing them by ``1 - beta^t`` removes the bias towards
    their zero start [eq-adam-bias-correction].
    """
    # BEGIN SOLUTION
    beta1, beta2 = betas
    g = _add(g, w, weight_decay)                         # g + weight_decay w [eq-coupled-decay]
    m = _lerp(m, g, 1 - beta1)                           # m + (1 - beta1) (g - m)
    v = _addcmul(beta2 * v, g, g, 1 - beta2)             # beta2 v + (1 - beta2) g^2
    denom = _sqrt(v) / math.sqrt(1 - beta2 ** t) + eps   # sqrt(v_hat) + eps
    return w - lr / (1 - beta1 ** t) * m / denom, m, v  # m_hat = m / (1 - beta1^t)
    # END SOLUTION


# The rule's three multiply-adds. PyTorch's kernels for them round once (a fused multiply-add),
# NumPy's operators twice; for a torch tensor the rule calls torch.optim.Adam's own operations,
# so that the grid's StackedAdam computes exactly what torch.optim.Adam computes. The
# difference is one rounding: float64 results of the two kinds agree to about 1e-16.

def _is_torch(a) -> bool:
    return type(a).__module__.startswith("torch")


def _add(a, b, alpha):
    """``a + alpha b`` (``alpha`` a number, or an array that broadcasts)."""
    if not _is_torch(a):
        return a + alpha * b
    return a.addcmul(b, alpha) if _is_torch(alpha) else a.add(b, alpha=alpha)


def _lerp(a, b, weight: float):
    """``a + weight (b - a)``."""
    return a.lerp(b, weight) if _is_torch(a) else a + weight * (b - a)


def _addcmul(a, b, c, value: float):
    """``a + value b c``."""
    return a.addcmul(b, c, value=value) if _is_torch(a) else a + value * b * c


def _sqrt(a):
    return a.sqrt() if _is_torch(a) else np.sqrt(a)


class Adam:
    """:func:`adam` for the ``params`` dicts of NumPy modules (the ``grads`` dicts beside them).

    ``Adam(modules, lr)``; ``step()`` replaces every ``module.params[name]`` by its update.
    """

    def __init__(self, modules, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        self.modules = [m for m in modules if getattr(m, "params", None)]
        self.lr, self.betas, self.eps, self.weight_decay, self.t = lr, betas, eps, weight_decay, 0
        self.m = [{k: np.zeros_like(p) for k, p in mod.params.items()} for mod in self.modules]
        self.v = [{k: np.zeros_like(p) for k, p in mod.params.items()} for mod in self.modules]

    def step(self) -> None:
        self.t += 1
        for mod, m, v in zip(self.modules, self.m, self.v):
            for k in mod.params:
                mod.params[k], m[k], v[k] = adam(mod.params[k], mod.grads[k], m[k], v[k],
                                                 self.t, self.lr, self.betas, self.eps,
                                                 self.weight_decay)
