"""The report's MLP in PyTorch (section 2), its training loop, and the initialisation ablation.

:class:`TorchMLP` is the NumPy :class:`~course_lib.numpy_mlp.MLP` written with ``nn.Linear``:
``n_inputs -> [Linear -> ReLU] * len(n_hidden) -> (Dropout) -> Linear``; it returns logits
(softmax and cross-entropy are fused in ``F.cross_entropy``). Two initialisations:

``init="pytorch"``
    whatever ``nn.Linear`` does by default: ``kaiming_uniform_(weight, a=sqrt(5))``, i.e.
    weights and biases from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), standard deviation
    ``1/sqrt(3 fan_in)`` (not He's ``sqrt(2/fan_in)``; the chapter shows the source);
``init="normal"``
    the report's NumPy initialisation: weights from N(0, ``init_std``^2), biases zero.

:func:`train_torch_mlp` mirrors :func:`course_lib.numpy_mlp.train_numpy_mlp` step for step
(same :class:`~course_lib.data.BatchSampler` seed, so the same mini-batches; same curves).
:func:`train_numpy_mlp_from_torch` trains the NumPy MLP from weights drawn here (and with
softmax and cross-entropy fused, as in PyTorch), so that the ablation compares the two
frameworks from *identical* starting points.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import profiles, results
from .data import BatchSampler, flatten
from .numpy_mlp import MLP, train_numpy_mlp
from .training import Curves, eval_steps, progress, summarize

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


def make_optimizer(name: str, params, settings: dict) -> torch.optim.Optimizer:
    """``"sgd"``: plain SGD as in section 1.2; ``"adam"``: ``torch.optim.Adam`` with its
    coupled L2 ``weight_decay`` (the gradient gets ``+ weight_decay * w``), as in 2019."""
    lr, wd = settings["learning_rate"], settings.get("weight_decay", 0.0)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def train_torch_mlp(data, settings: dict, seed: int = 0, init: str = "pytorch",
                    optimizer: str = "sgd", device=None, show_progress: bool = True) -> dict:
    """Train :class:`TorchMLP` on ``data`` like :func:`~course_lib.numpy_mlp.train_numpy_mlp`.

    ``settings``: ``n_hidden, batch_size, learning_rate, steps, eval_every, train_avg,
    init_std`` and optionally ``dropout`` and ``weight_decay`` (default 0). The mini-batches
    come from ``BatchSampler(N, batch_size, seed)``, exactly those of the NumPy run with the
    same seed; ``seed`` also fixes the initial weights and the dropout masks. Training
    loss/accuracy are those of each mini-batch (dropout active), test metrics are measured
    every ``eval_every`` steps in eval mode. Returns one run dict (``seed, init, optimizer,
    final, best, curves, wall_time``).
    """
    device = torch.device(device or profiles.default_device())
    with seeded(seed, device):
        model = make_mlp(flatten(data.x_train[:1]).shape[1], settings["n_hidden"], 10, seed,
                         init, settings.get("init_std", 1e-4),
                         settings.get("dropout", 0.0)).to(device)
        opt = make_optimizer(optimizer, model.parameters(), settings)
        run = fit(model, opt, data, settings, seed, device, f"PyTorch MLP ({init}) seed {seed}",
                  show_progress)
    return dict(seed=seed, framework="pytorch", init=init, optimizer=optimizer, **run)


def fit(model: nn.Module, optimizer: torch.optim.Optimizer, data, settings: dict, seed: int,
        device, desc: str = "", show_progress: bool = True) -> dict:
    """Train ``model`` (logits out) by cross-entropy with ``optimizer``, as every PyTorch MLP of
    the course is trained: the mini-batches of ``BatchSampler(N, batch_size, seed)`` (those of
    the NumPy run with the same seed), training loss/accuracy of each mini-batch averaged over
    ``train_avg`` steps, test metrics every ``eval_every`` steps in eval mode.
    Returns ``final``, ``best``, ``curves`` and ``wall_time``.
    """
    x_train, y_train = as_tensors(data.x_train, data.y_train, device)  # once, on the device
    x_test, y_test = as_tensors(data.x_test, data.y_test, device)
    sampler = BatchSampler(len(y_train), settings["batch_size"], seed=seed)
    curves = Curves(settings["train_avg"])
    evals = eval_steps(settings["steps"], settings["eval_every"])
    steps = progress(settings["steps"], desc) if show_progress else range(settings["steps"])
    start = time.perf_counter()
    model.train()
    for step in (s + 1 for s in steps):
        idx = torch.from_numpy(sampler.next_indices()).to(device)
        xb, yb = x_train[idx], y_train[idx]
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        curves.add_train(step, loss.item(), (logits.argmax(1) == yb).float().mean().item())
        if step in evals:
            test_loss, test_acc = evaluate(model, x_test, y_test)
            curves.add_eval(step, test_loss=test_loss, test_accuracy=test_acc)
    wall = time.perf_counter() - start
    curves = curves.as_dict()
    final, best = summarize(curves)
    return dict(final=final, best=best, curves=curves, wall_time=wall)


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


def train_numpy_mlp_from_torch(data, settings: dict, seed: int = 0, init: str = "pytorch",
                               show_progress: bool = True) -> dict:
    """The NumPy MLP trained like :func:`~course_lib.numpy_mlp.train_numpy_mlp`, but started
    from the weights :func:`train_torch_mlp` starts from (same ``seed``, same ``init``) and
    with the fused softmax-cross-entropy of :func:`~course_lib.numpy_mlp.fused_train_step`.

    Same sampler seed, same SGD, same curves: a run of this function and a PyTorch run with
    the same ``seed`` and ``init`` differ only by floating-point rounding. (With PyTorch's
    initialisation, the report's unfused ``log(softmax)`` gives ``-inf`` and then NaN on the
    very first batch: the chapter shows it.)
    """
    model = numpy_mlp_from_torch(make_mlp(flatten(data.x_train[:1]).shape[1],
                                          settings["n_hidden"], 10, seed, init,
                                          settings["init_std"]))
    run = train_numpy_mlp(data, settings, seed, show_progress=show_progress, model=model,
                          fused=True)
    return dict(run, framework="numpy", init=init, optimizer="sgd")


def run_experiment(data, profile: str | None = None, device=None,
                   show_progress: bool = True) -> dict:
    """Section 2's PyTorch MLP and the initialisation ablation; records two experiments.

    ``"torch_mlp"``: the report's setting, PyTorch's default initialisation, every seed of
    ``settings("torch_mlp")``. ``"init_ablation"``: {NumPy, PyTorch} x {pytorch, normal}
    initialisation x the same seeds (the PyTorch/pytorch cell *is* the ``torch_mlp`` runs).
    Within a seed all four runs see the same mini-batches, and the two runs of one
    initialisation start from the same weights. Returns ``{"torch_mlp": record,
    "init_ablation": record}``, each record with its ``runs``.
    """
    profile = profiles.active_profile(profile)
    settings = profiles.settings("torch_mlp", profile)
    device = str(device or profiles.default_device())
    if settings.get("train_size") or settings.get("test_size"):
        data = data.subset(settings.get("train_size"), settings.get("test_size"))
    out, runs, walls = {}, [], {}
    for framework in ("pytorch", "numpy"):
        for init in INITS:
            start = time.perf_counter()
            for seed in settings["seeds"]:
                if framework == "pytorch":
                    run = train_torch_mlp(data, settings, seed, init, "sgd", device,
                                          show_progress)
                else:
                    run = train_numpy_mlp_from_torch(data, settings, seed, init, show_progress)
                runs.append(dict(run, variant=f"{framework}/{init}",
                                 device=device if framework == "pytorch" else "cpu"))
            walls[(framework, init)] = time.perf_counter() - start
    torch_runs = [r for r in runs if r["variant"] == "pytorch/pytorch"]
    for name, subset, wall in (("torch_mlp", torch_runs, walls[("pytorch", "pytorch")]),
                               ("init_ablation", runs, sum(walls.values()))):
        path = results.record(name, profile, settings, subset, device, wall)
        out[name] = results.load(name, profile, path.parent.parent)
    return out
