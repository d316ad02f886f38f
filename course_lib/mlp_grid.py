"""The grid search of the report's Table 1, trained many configurations at a time.

Table 1 searches 3 x 3 x 3 x 3 = 81 configurations of ``n_inputs -> h1 -> 400 -> 10`` MLPs
(dropout after the second hidden layer) trained with Adam and L2 weight decay. Training them
one after another wastes a GPU: each step of one configuration is a few small matrix
products. Here all configurations with the same first-layer size ``h1`` form one *stack*:
layer ``l``'s weights are one tensor ``[K, out, in]``; the first layer, whose input batch is
shared, is one large matrix product, every later layer one batched matrix product
(``torch.baddbmm``); per-configuration dropout rates, learning rates and weight decays
are ``[K]`` tensors; :class:`StackedAdam` is the course's Adam rule (:mod:`course_lib.optim`)
with those ``[K]`` hyperparameters broadcast.

Common random numbers: every configuration sees the same mini-batches in the same order (one
:class:`~course_lib.data.BatchSampler`); configurations with the same ``h1`` start from the
same initial weights (PyTorch's default initialisation, one seed); and one uniform draw ``u``
per step and hidden unit is shared, each configuration dropping the units where
``u < p_k``. Differences between configurations therefore come from their hyperparameters,
not from different luck in batches, initialisation or dropout masks.

Model selection holds ``validation_size`` training images out (:meth:`CIFAR10.split_validation`)
and measures validation and test accuracy, so a chapter can compare selecting by test
accuracy (the report's way) with selecting by validation accuracy (honest). With
``settings["halving"]`` the grid is searched by successive halving
(Jamieson and Talwalkar, 2016): a list of rungs ``(total_steps, n_configs)``; the best
``n_configs`` on validation accuracy continue training to ``total_steps``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import optim, report
from .data import BatchSampler
from .results import Record, Run, recorded
from .torch_mlp import TorchMLP, as_tensors, make_mlp, train_torch_mlp
from .training import Curves, summarize, train

#: The four hyperparameters of Table 1, in the order of the report.
AXES = tuple(report.GRID)


def grid_configs(settings) -> list[dict]:
    """Every combination of the values of :data:`AXES` in ``settings`` (81 for Table 1)."""
    return [dict(zip(AXES, values))
            for values in itertools.product(*(getattr(settings, a) for a in AXES))]


class StackedMLP:
    """``K`` MLPs of one shape side by side; layer ``l`` holds weights ``[K, out, in]``.

    Configuration ``k`` computes exactly what a :class:`~course_lib.torch_mlp.TorchMLP` with
    the ``k``-th weights computes: ``Linear -> ReLU`` per hidden layer, dropout with rate
    ``dropout[k]`` on the last hidden layer's output in training, a final ``Linear``.
    """

    def __init__(self, weights: list[torch.Tensor], biases: list[torch.Tensor],
                 dropout: torch.Tensor):
        if len(weights) != len(biases) or len(weights) < 2:
            raise ValueError("need one bias per weight and at least one hidden layer")
        self.weights = [w.detach().clone().requires_grad_(True) for w in weights]
        self.biases = [b.detach().clone().requires_grad_(True) for b in biases]
        self.dropout = dropout.detach().clone().to(self.weights[0])

    @classmethod
    def stack(cls, models: list[TorchMLP]) -> StackedMLP:
        """Copy the weights of ``K`` same-shaped :class:`TorchMLP` into one stack."""
        n_layers = len(models[0].linears)
        weights = [torch.stack([m.linears[i].weight.detach() for m in models])
                   for i in range(n_layers)]
        biases = [torch.stack([m.linears[i].bias.detach() for m in models])
                  for i in range(n_layers)]
        dropout = torch.tensor([m.dropout.p for m in models])
        return cls(weights, biases, dropout)

    def __len__(self) -> int:
        return self.weights[0].shape[0]

    def parameters(self) -> list[torch.Tensor]:
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def forward(self, x: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[K, B, n_classes]`` for one shared batch ``x`` ``[B, n_inputs]``.

        ``u`` (``[B, last hidden size]``, uniform in [0, 1)) switches dropout on: model ``k``
        keeps unit ``j`` of sample ``b`` where ``u[b, j] >= dropout[k]`` and scales the kept
        ones by ``1 / (1 - dropout[k])``, as ``nn.Dropout`` does. ``u=None``: evaluation.
        """
        k, (w, b) = len(self), (self.weights[0], self.biases[0])
        # The first layer reads the same batch in every model: all K weight matrices side by
        # side make one large product [B, n_inputs] x [n_inputs, K * h1], cheaper than K
        # small ones (its weight gradient is one large product too).
        h = (x @ w.reshape(-1, w.shape[2]).T).view(len(x), k, -1).transpose(0, 1)
        h = torch.relu(h + b.unsqueeze(1))
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if i == 0:
                continue
            if i == last and u is not None:  # dropout on the last hidden layer's output
                p = self.dropout.view(-1, 1, 1)
                h = h * (u >= p) / (1 - p)
            h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))  # [K, B, out]
            if i < last:
                h = torch.relu(h)
        return h

    def select(self, keep: list[int]) -> StackedMLP:
        """A new stack holding only models ``keep`` (their current weights)."""
        idx = torch.as_tensor(keep, device=self.weights[0].device)
        return StackedMLP([w[idx] for w in self.weights], [b[idx] for b in self.biases],
                          self.dropout[idx])


class StackedAdam:
    """``torch.optim.Adam`` (coupled L2 ``weight_decay``) for stacked parameters ``[K, ...]``
    with one learning rate and one weight decay per model.

    The update is the course's one Adam rule, :func:`course_lib.optim.adam` (derived in the
    chapter "Layers by hand"): with ``g = grad + weight_decay[k] * w`` and step ``t``,
    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``w <- w - lr[k] / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.

    ``vectorised=True`` (the default on a GPU) applies the rule once to a whole stack
    ``[K, ...]``, with the ``[K]`` hyperparameters broadcast: few, large kernels. ``False``
    (the default on a CPU) applies it one model at a time, so that a model's slice stays in
    the cache (benchmarks/bench_grid.py measures both). Either works on any device.
    """

    def __init__(self, params: list[torch.Tensor], lr, weight_decay,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 vectorised: bool | None = None):
        self.params = list(params)
        self.vectorised = self.params[0].device.type != "cpu" if vectorised is None else vectorised
        ref = self.params[0]
        self.lr = torch.as_tensor(lr, dtype=ref.dtype, device=ref.device).clone()
        self.weight_decay = torch.as_tensor(weight_decay, dtype=ref.dtype,
                                            device=ref.device).clone()
        if self.lr.shape != (ref.shape[0],) or self.weight_decay.shape != (ref.shape[0],):
            raise ValueError(f"lr and weight_decay need one value per model ({ref.shape[0]})")
        self.betas, self.eps, self.t = betas, eps, 0
        # The exact Python values, as torch.optim.Adam uses them, for the CPU path.
        self._lr_list = [float(x) for x in (lr.tolist() if torch.is_tensor(lr) else lr)]
        self._wd_list = [float(x) for x in (weight_decay.tolist() if torch.is_tensor(weight_decay)
                                            else weight_decay)]
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
            if self.vectorised:  # one rule for the stack: [K] hyperparameters as [K, 1, ...]
                shape = (-1,) + (1,) * (p.dim() - 1)
                _assign((p, m, v), optim.adam(p, p.grad, m, v, self.t, self.lr.view(shape),
                                              self.betas, self.eps, self.weight_decay.view(shape)))
                continue
            for k, (lr, wd) in enumerate(zip(self._lr_list, self._wd_list)):
                _assign((p[k], m[k], v[k]), optim.adam(p[k], p.grad[k], m[k], v[k], self.t, lr,
                                                       self.betas, self.eps, wd))

    def select(self, params: list[torch.Tensor], keep: list[int]) -> StackedAdam:
        """The optimiser of ``params`` (from :meth:`StackedMLP.select`): models ``keep``'s state."""
        idx = torch.as_tensor(keep, device=self.params[0].device)
        out = StackedAdam(params, [self._lr_list[i] for i in keep],
                          [self._wd_list[i] for i in keep], self.betas, self.eps,
                          self.vectorised)
        out.t = self.t
        out.exp_avg = [m[idx].clone() for m in self.exp_avg]
        out.exp_avg_sq = [v[idx].clone() for v in self.exp_avg_sq]
        return out


def _assign(targets, values) -> None:
    """Copy the rule's new values into the optimiser's tensors (views into the stacks)."""
    for target, value in zip(targets, values):
        target.copy_(value)


@dataclass
class Stack:
    """Configurations ``ids`` (indices into the grid) trained together: model and optimiser."""

    ids: list[int]
    model: StackedMLP
    optimizer: StackedAdam

    def keep(self, ids: set[int]) -> Stack | None:
        rows = [i for i, c in enumerate(self.ids) if c in ids]
        if not rows:
            return None
        model = self.model.select(rows)
        return Stack([self.ids[i] for i in rows], model,
                      self.optimizer.select(model.parameters(), rows))


def build_stacks(configs: list[dict], n_inputs: int, second_hidden: int, n_classes: int,
                 seed: int, device) -> list[Stack]:
    """One :class:`Stack` per first-layer size; every model of a stack starts from the same
    PyTorch-default weights (drawn with ``seed``)."""
    stacks = []
    for h1 in sorted({c["first_hidden"] for c in configs}):
        ids = [i for i, c in enumerate(configs) if c["first_hidden"] == h1]
        base = make_mlp(n_inputs, [h1, second_hidden], n_classes, seed, init="pytorch").to(device)
        k = len(ids)
        model = StackedMLP([lin.weight.detach().expand(k, -1, -1) for lin in base.linears],
                           [lin.bias.detach().expand(k, -1) for lin in base.linears],
                           torch.tensor([configs[i]["dropout"] for i in ids]))
        opt = StackedAdam(model.parameters(), [configs[i]["learning_rate"] for i in ids],
                          [configs[i]["weight_decay"] for i in ids])
        stacks.append(Stack(ids, model, opt))
    return stacks


def train_step(stack: Stack, xb: torch.Tensor, yb: torch.Tensor,
               u: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One Adam step of every model of ``stack`` on the shared batch; returns each model's
    mini-batch loss and accuracy ``[K]`` (on the device, no synchronisation)."""
    logits = stack.model.forward(xb, u)  # [K, B, C]
    k, b, c = logits.shape
    losses = F.cross_entropy(logits.reshape(k * b, c), yb.repeat(k), reduction="none")
    losses = losses.view(k, b).mean(1)
    stack.optimizer.zero_grad()
    losses.sum().backward()  # model k's parameters only receive model k's loss gradient
    stack.optimizer.step()
    return losses.detach(), (logits.detach().argmax(2) == yb).float().mean(1)


@torch.no_grad()
def evaluate_stack(stack: Stack, x: torch.Tensor, y: torch.Tensor,
                   batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy and accuracy ``[K]`` of every model (no dropout) on ``x``, ``y``."""
    k = len(stack.model)
    loss = torch.zeros(k, dtype=torch.float64, device=x.device)
    correct = torch.zeros(k, dtype=torch.float64, device=x.device)
    for i in range(0, len(y), batch_size):
        logits = stack.model.forward(x[i:i + batch_size])
        yb = y[i:i + batch_size]
        kb, b, c = logits.shape
        loss += F.cross_entropy(logits.reshape(kb * b, c), yb.repeat(kb),
                                reduction="none").view(kb, b).sum(1).double()
        correct += (logits.argmax(2) == yb).sum(1).double()
    return (loss / len(y)).cpu().numpy(), (correct / len(y)).cpu().numpy()


def check_rungs(rungs: list, n_configs: int) -> list[tuple[int, int]]:
    """Validate successive-halving rungs ``[(total_steps, n_configs), ...]``."""
    rungs = [(int(s), int(n)) for s, n in rungs]
    if not rungs or rungs[0][1] != n_configs:
        raise ValueError(f"the first rung must train all {n_configs} configurations, got {rungs}")
    for (s0, n0), (s1, n1) in zip(rungs, rungs[1:]):
        if not (s1 > s0 and 0 < n1 <= n0):
            raise ValueError(f"rungs need increasing steps and non-increasing counts: {rungs}")
    return rungs


def select(runs: list[Run], metric: str) -> Run:
    """The run with the highest final ``metric`` among the runs trained to the last rung."""
    top = max(r.info["steps_trained"] for r in runs)
    finished = [r for r in runs if r.info["steps_trained"] == top]
    return max(finished, key=lambda r: (r.final[metric], -r.info["index"]))


@recorded
def run(settings, data, device, show_progress) -> tuple[list[Run], dict]:
    """Train the grid of ``settings`` (:class:`~course_lib.profiles.MLPGrid`) on ``data``.

    Holds out ``validation_size`` training images and trains on the rest. Validation metrics
    are measured every ``eval_every`` steps (``None``: never in between) and at the end of
    every rung, test metrics every ``eval_every`` steps and at the end of the last rung. The
    record has one run per configuration, and in ``info`` the two selections
    ``selected_by_validation`` and ``selected_by_test`` (among the last rung's runs).
    """
    configs = grid_configs(settings)
    rungs = check_rungs(settings.halving or [(settings.steps, len(configs))], len(configs))
    seed = settings.seed
    train_data, (x_val, y_val) = data.split_validation(settings.validation_size, seed=seed)
    x_train, y_train = as_tensors(train_data.x_train, train_data.y_train, device)
    x_val, y_val = as_tensors(x_val, y_val, device)
    x_test, y_test = as_tensors(train_data.x_test, train_data.y_test, device)
    stacks = build_stacks(configs, x_train.shape[1], settings.second_hidden, 10, seed, device)
    sampler = BatchSampler(len(y_train), settings.batch_size, seed=seed)
    dropout_rng = torch.Generator(device).manual_seed(seed)

    def step(t):
        idx = torch.from_numpy(sampler.next_indices()).to(device)
        xb, yb = x_train[idx], y_train[idx]
        u = torch.rand(len(idx), settings.second_hidden, generator=dropout_rng, device=device,
                       dtype=xb.dtype)  # one dropout draw shared by every configuration
        losses, accuracies = zip(*(train_step(s, xb, yb, u) for s in stacks))
        return torch.cat(losses), torch.cat(accuracies)

    def evaluate(with_test: bool) -> dict:
        metrics = {}
        for name, x, y in (("validation", x_val, y_val), ("test", x_test, y_test)):
            loss, acc = (map(np.concatenate, zip(*(evaluate_stack(s, x, y) for s in stacks)))
                         if name == "validation" or with_test else (None, None))
            metrics.update({f"{name}_loss": loss, f"{name}_accuracy": acc})
        return metrics

    curves = [Curves() for _ in configs]  # one per configuration, over all rungs
    steps_trained, rung_times, done = [0] * len(configs), [], 0
    every = settings.eval_every
    for r, (rung_steps, n_keep) in enumerate(rungs):
        if r > 0:  # successive halving: keep the best n_keep on validation accuracy
            alive = [c for s in stacks for c in s.ids]
            ranked = sorted(alive, key=lambda c: (-curves[c].of()["eval"]
                                                  ["validation_accuracy"][-1], c))
            stacks = [t for t in (s.keep(set(ranked[:n_keep])) for s in stacks) if t]
        ids, last = [c for s in stacks for c in s.ids], r == len(rungs) - 1
        out = train(step, lambda t, end=rung_steps, last=last: evaluate(
                        bool(every) and t % every == 0 or last and t == end),
                    rung_steps, every, train_avg=None, first=done + 1,
                    desc=f"grid rung {r + 1}/{len(rungs)} ({len(ids)} configurations)",
                    show_progress=show_progress)
        for j, c in enumerate(ids):
            curves[c].extend(out.curves, j)
            steps_trained[c] = rung_steps
        done = rung_steps
        rung_times.append(out.wall_time)

    runs = []
    for i, (config, c) in enumerate(zip(configs, curves)):
        c = c.of()
        metric = "test_accuracy" if c["eval"]["test_accuracy"][-1] is not None \
            else "validation_accuracy"  # stopped early by halving: no test measured
        final, best = summarize(c, metric)
        if metric != "test_accuracy":
            best = dict(test_accuracy=None, step=None)
        runs.append(Run(seed, final, best, c, None, config_label(config),
                        dict(index=i, config=config, steps_trained=steps_trained[i])))
    selections = {}
    for by in ("validation", "test"):
        chosen = select(runs, f"{by}_accuracy")
        selections[f"selected_by_{by}"] = dict(
            index=chosen.info["index"], config=chosen.info["config"],
            validation_accuracy=chosen.final["validation_accuracy"],
            test_accuracy=chosen.final["test_accuracy"],
            steps_trained=chosen.info["steps_trained"])
    return runs, dict(rungs=[list(r) for r in rungs], rung_times=rung_times,
                      common_random_numbers=True, **selections)


def config_label(config: dict) -> str:
    """A short name such as ``h1=600 wd=0.1 p=0.1 lr=1e-04``."""
    return (f"h1={config['first_hidden']} wd={config['weight_decay']:g} "
            f"p={config['dropout']:g} lr={config['learning_rate']:.0e}")


@recorded
def run_best(settings, data, grid: Record, device, show_progress) -> tuple[list[Run], dict]:
    """Retrain the configuration that ``grid`` selected on validation on all training images
    (Figure 2) with ``settings`` (:class:`~course_lib.profiles.MLPBest`): a plain
    :class:`TorchMLP` with PyTorch's default initialisation and ``torch.optim.Adam``, none of
    the stacked code, so an independent check of the grid's numbers."""
    config = grid.info["selected_by_validation"]["config"]
    run = train_torch_mlp(data, settings, settings.seed, "pytorch", "adam", device, show_progress,
                          n_hidden=[config["first_hidden"], settings.second_hidden],
                          dropout=config["dropout"], weight_decay=config["weight_decay"],
                          learning_rate=config["learning_rate"])
    run.variant = config_label(config)
    run.info["config"] = config
    return [run], dict(config=config)
