"""The report's MLP in PyTorch (section 2), the initialisation ablation and the BatchNorm demo.

:class:`TorchMLP` is the NumPy :class:`~course_lib.numpy_mlp.MLP` written with ``nn.Linear``
(logits out; ``F.cross_entropy`` fuses softmax and cross-entropy), with PyTorch's default
initialisation (``init="pytorch"``) or the report's N(0, ``init_std``^2) (``"normal"``).
:func:`fit` trains any such model on the mini-batches of the NumPy run with the same seed, so
the two frameworks can be compared run by run.
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import batchnorm, profiles
from .data import BatchSampler, flatten
from .numpy_mlp import MLP, train_numpy_mlp
from .results import Run, recorded
from .training import summarize, train

INITS = ("pytorch", "normal")
OPTIMIZERS = ("sgd", "adam")


class TorchMLP(nn.Module):
    """``TorchMLP(n_inputs, n_hidden, n_classes, dropout=0.0, init="pytorch", init_std=1e-4)``.

    ``n_hidden`` is a list of hidden sizes (``[100]`` in section 1.2, ``[h1, 400]`` in the
    grid of Table 1). Dropout with rate ``dropout`` acts on the output of the *last* hidden
    layer (after its ReLU), as the report adds it "to the output of the second layer".
    ``forward`` returns logits ``[B, n_classes]``.
    """

    def __init__(self, n_inputs: int, n_hidden: list[int], n_classes: int,
                 dropout: float = 0.0, init: str = "pytorch", init_std: float = 1e-4):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        sizes = [n_inputs, *n_hidden, n_classes]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.dropout = nn.Dropout(dropout)
        self.init = init
        if init == "normal":
            for linear in self.linears:
                nn.init.normal_(linear.weight, mean=0.0, std=init_std)
                nn.init.zeros_(linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.linears[0].in_features:
            raise ValueError(f"expected input [B, {self.linears[0].in_features}], "
                             f"got {list(x.shape)}")
        *hidden, last = self.linears
        for linear in hidden:
            x = torch.relu(linear(x))
        if hidden:
            x = self.dropout(x)
        return last(x)


@contextmanager
def seeded(seed: int, device: str | torch.device = "cpu"):
    """Run a block with torch's global generators (CPU and ``device``) seeded, then restore them.

    ``nn.Linear``'s default initialisation and ``nn.Dropout`` draw from the global generator;
    forking it keeps every run reproducible without disturbing the caller's random state.
    """
    device = torch.device(device)
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


def make_mlp(n_inputs: int, n_hidden: list[int], n_classes: int, seed: int,
             init: str = "pytorch", init_std: float = 1e-4, dropout: float = 0.0) -> TorchMLP:
    """A :class:`TorchMLP` whose initial weights depend only on ``seed`` (drawn on the CPU)."""
    with seeded(seed):
        return TorchMLP(n_inputs, n_hidden, n_classes, dropout, init, init_std)


def as_tensors(x: np.ndarray, y: np.ndarray, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``[N, 3, 32, 32]`` (or already flat) and labels as flat tensors on ``device``."""
    return (torch.from_numpy(np.ascontiguousarray(flatten(x))).to(device),
            torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             batch_size: int = 5000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (in eval mode: no dropout) on ``x``, ``y``."""
    was_training = model.training
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(y), batch_size):
        logits = model(x[i:i + batch_size])
        yb = y[i:i + batch_size]
        loss += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    model.train(was_training)
    return loss / len(y), correct / len(y)


def make_optimizer(name: str, params, hp: dict) -> torch.optim.Optimizer:
    """``"sgd"``: plain SGD as in section 1.2; ``"adam"``: ``torch.optim.Adam`` with its
    coupled L2 ``weight_decay`` (the gradient gets ``+ weight_decay * w``), as in 2019."""
    lr, wd = hp["learning_rate"], hp.get("weight_decay", 0.0)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def train_torch_mlp(data, settings, seed: int = 0, init: str = "pytorch",
                    optimizer: str = "sgd", device=None, show_progress: bool = True,
                    **overrides) -> Run:
    """Train :class:`TorchMLP` on ``data`` like :func:`~course_lib.numpy_mlp.train_numpy_mlp`.

    The model and optimiser settings (``n_hidden, init_std, learning_rate``, and
    ``dropout``, ``weight_decay``, default 0) can be overridden by keyword. ``seed`` fixes the
    initial weights, the dropout masks and the mini-batches (those of the NumPy run with the
    same seed).
    """
    if unknown := set(overrides) - {"n_hidden", "init_std", "dropout", "weight_decay",
                                    "learning_rate"}:
        raise ValueError(f"only the model and optimiser settings can be overridden, not "
                         f"{sorted(unknown)}; change the settings object for the others")
    hp = {**dataclasses.asdict(settings), **overrides}
    device = torch.device(device or profiles.default_device())
    with seeded(seed, device):
        model = make_mlp(flatten(data.x_train[:1]).shape[1], list(hp["n_hidden"]), 10, seed,
                         init, hp.get("init_std", 1e-4), hp.get("dropout", 0.0)).to(device)
        opt = make_optimizer(optimizer, model.parameters(), hp)
        run = fit(model, opt, data, settings, seed, device, f"PyTorch MLP ({init}) seed {seed}",
                  show_progress)
    run.info.update(framework="pytorch", init=init, optimizer=optimizer, device=str(device))
    return run


def fit(model: nn.Module, optimizer: torch.optim.Optimizer, data, settings, seed: int,
        device, desc: str = "", show_progress: bool = True) -> Run:
    """Train ``model`` (logits out) by cross-entropy with ``optimizer``, as every PyTorch MLP of
    the course is trained: the mini-batches of ``BatchSampler(N, batch_size, seed)``, the
    loop of :func:`course_lib.training.train`, test metrics in eval mode.
    """
    x_train, y_train = as_tensors(data.x_train, data.y_train, device)  # once, on the device
    x_test, y_test = as_tensors(data.x_test, data.y_test, device)
    sampler = BatchSampler(len(y_train), settings.batch_size, seed=seed)

    def step(t):
        idx = torch.from_numpy(sampler.next_indices()).to(device)
        xb, yb = x_train[idx], y_train[idx]
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach(), (logits.argmax(1) == yb).float().mean()

    def test(t):
        loss, accuracy = evaluate(model, x_test, y_test)
        return dict(test_loss=loss, test_accuracy=accuracy)

    model.train()
    out = train(step, test, settings.steps, settings.eval_every, settings.train_avg,
                desc=desc, show_progress=show_progress)
    curves = out.curves.of(0)
    return Run(seed, *summarize(curves), curves, out.wall_time)


def numpy_mlp_from_torch(model: TorchMLP) -> MLP:
    """A NumPy :class:`~course_lib.numpy_mlp.MLP` holding a copy of ``model``'s weights.

    Both store ``W`` as ``[out_features, in_features]`` and compute ``x W^T + b``, so the copy
    is one assignment per parameter. Only dropout-free models have a NumPy twin.
    """
    if model.dropout.p:
        raise ValueError("the NumPy MLP has no dropout; copy a model with dropout=0")
    sizes = [lin.in_features for lin in model.linears] + [model.linears[-1].out_features]
    twin = MLP(sizes[0], sizes[1:-1], sizes[-1])
    for layer, linear in zip(twin.linear_layers, model.linears):
        layer.params["weight"] = linear.weight.detach().cpu().numpy().astype(np.float32)
        layer.params["bias"] = linear.bias.detach().cpu().numpy().astype(np.float32)
    return twin


def train_numpy_mlp_from_torch(data, settings, seed: int = 0, init: str = "pytorch",
                               show_progress: bool = True) -> Run:
    """The NumPy MLP trained like :func:`~course_lib.numpy_mlp.train_numpy_mlp`, but started
    from the weights :func:`train_torch_mlp` starts from (same ``seed``, same ``init``) and
    with the fused softmax-cross-entropy of :func:`~course_lib.numpy_mlp.fused_train_step`.

    Same sampler seed, same SGD, same curves: a run of this function and a PyTorch run with
    the same ``seed`` and ``init`` differ only by floating-point rounding. (With PyTorch's
    initialisation, the report's unfused ``log(softmax)`` gives ``-inf`` and then NaN on the
    very first batch: the chapter shows it.)
    """
    model = numpy_mlp_from_torch(make_mlp(flatten(data.x_train[:1]).shape[1],
                                          list(settings.n_hidden), 10, seed, init,
                                          settings.init_std))
    run = train_numpy_mlp(data, settings, seed, model=model, fused=True,
                          show_progress=show_progress)
    run.info.update(framework="numpy", init=init, optimizer="sgd", device="cpu")
    return run


@recorded
def run(settings, data, device, show_progress) -> list[Run]:
    """Section 2's PyTorch MLP and the initialisation ablation: {NumPy, PyTorch} x {pytorch,
    normal} initialisation x every seed. Within a seed all four runs see the same
    mini-batches, and the two runs of one initialisation start from the same weights. The
    report's PyTorch MLP is the variant ``"pytorch/pytorch"``."""
    runs = []
    for framework in ("pytorch", "numpy"):
        for init in INITS:
            for seed in settings.seeds:
                run = train_torch_mlp(data, settings, seed, init, "sgd", device, show_progress) \
                    if framework == "pytorch" else \
                    train_numpy_mlp_from_torch(data, settings, seed, init, show_progress)
                run.variant = f"{framework}/{init}"
                runs.append(run)
    return runs


#: The BatchNorm demo (chapter 05): variant name -> BatchNorm class after the hidden layer.
DEMO_VARIANTS = {
    "nn.BatchNorm1d": nn.BatchNorm1d,
    "CustomBatchNormAutograd": batchnorm.CustomBatchNormAutograd,
    "CustomBatchNormManualModule": batchnorm.CustomBatchNormManualModule,
}


def demo_mlp(n_inputs: int, n_hidden: list[int], n_classes: int, batch_norm) -> nn.Sequential:
    """``[Linear -> BatchNorm -> ReLU] * len(n_hidden) -> Linear``; ``batch_norm(width)``
    builds each BatchNorm layer."""
    layers, fan_in = [], n_inputs
    for width in n_hidden:
        layers += [nn.Linear(fan_in, width), batch_norm(width), nn.ReLU()]
        fan_in = width
    layers.append(nn.Linear(fan_in, n_classes))
    return nn.Sequential(*layers)


@recorded
def run_batchnorm_demo(settings, data, device, show_progress) -> list[Run]:
    """The demo MLP trained once per BatchNorm implementation of :data:`DEMO_VARIANTS`, each
    from the same weights on the same mini-batches: the runs differ only by rounding."""
    runs = []
    for variant, batch_norm in DEMO_VARIANTS.items():
        with seeded(settings.seed, device):
            model = demo_mlp(flatten(data.x_train[:1]).shape[1], list(settings.n_hidden), 10,
                             batch_norm).to(device)
            opt = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
            run = fit(model, opt, data, settings, settings.seed, device, variant, show_progress)
        run.variant = variant
        runs.append(run)
    return runs
