"""The one training loop of the course, and the curves it draws.

Every experiment hands :func:`train` two functions: ``step(t)``, one training step that
returns the mini-batch loss and accuracy, and ``evaluate(t)``, which returns held-out metrics.
The loop owns the rest: which steps evaluate, the curves, the timing and the progress bar.
Several models trained together (the grid's configurations, the CNN's seeds) return one
value per model; the curves then hold one column per model.

Curves follow the report's figures: the training loss and accuracy averaged over the last
``train_avg`` (10) steps, and evaluation metrics every ``eval_every`` steps and at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np


def _numbers(values: list) -> np.ndarray:
    """A window of per-step values (floats, arrays or tensors) as float64 ``[steps, models]``."""
    if hasattr(values[0], "detach"):  # torch tensors, possibly on a GPU: one transfer
        import torch

        values = torch.stack(values).detach().double().cpu().numpy()
    return np.asarray(values, dtype=np.float64).reshape(len(values), -1)


@dataclass
class Curves:
    """Training and evaluation curves; every value is a ``[models]`` array (one model: 1)."""

    train: dict = field(default_factory=lambda: {"step": [], "loss": [], "accuracy": []})
    eval: dict = field(default_factory=lambda: {"step": []})

    def add_train(self, step: int, losses: list, accuracies: list) -> None:
        """Store the mean of a window of per-step losses and accuracies at ``step``."""
        self.train["step"].append(int(step))
        for key, window in (("loss", losses), ("accuracy", accuracies)):
            # Each model's mean over its own contiguous row: the same sum as np.mean(list).
            self.train[key].append(np.ascontiguousarray(_numbers(window).T).mean(axis=1))

    def add_eval(self, step: int, **metrics) -> None:
        self.eval["step"].append(int(step))
        for name, value in metrics.items():  # None: not measured (a new metric: not before)
            self.eval.setdefault(name, [None] * (len(self.eval["step"]) - 1)).append(
                None if value is None else np.asarray(value, dtype=np.float64).ravel())

    def extend(self, other: Curves, k: int) -> None:
        """Append model ``k`` of ``other`` (a later stretch of training) to these curves."""
        for mine, theirs in ((self.train, other.train), (self.eval, other.eval)):
            before = len(mine["step"])
            for key, values in theirs.items():
                mine.setdefault(key, [None] * before).extend(
                    v if key == "step" or v is None else v[k:k + 1] for v in values)

    def of(self, k: int = 0) -> dict:
        """Model ``k``'s curves as plain lists of floats (``None`` where not measured)."""
        def column(values):
            return [None if v is None else float(v[k]) for v in values]
        return {"train": {key: v if key == "step" else column(v)
                          for key, v in self.train.items()},
                "eval": {key: v if key == "step" else column(v)
                         for key, v in self.eval.items()}}


def summarize(curves: dict, metric: str = "test_accuracy") -> tuple[dict, dict]:
    """``(final, best)`` of one model's curves: the last evaluation, and the best ``metric``."""
    ev = curves["eval"]
    if not ev["step"]:
        raise ValueError("the run has no evaluation point")
    final = {k: v[-1] for k, v in ev.items() if k != "step"}
    final["step"] = ev["step"][-1]
    if curves["train"]["step"]:
        final["train_loss"] = curves["train"]["loss"][-1]
        final["train_accuracy"] = curves["train"]["accuracy"][-1]
    i = int(np.argmax([-np.inf if v is None else v for v in ev[metric]]))
    return final, {metric: ev[metric][i], "step": ev["step"][i]}


def eval_steps(steps: int, eval_every: int | None, first: int = 1) -> set[int]:
    """Every ``eval_every``-th step from ``first`` to ``steps``, and always ``steps``."""
    every = set(range(eval_every, steps + 1, eval_every)) if eval_every else set()
    return {s for s in every if s >= first} | {steps}


@dataclass
class Trained:
    curves: Curves
    wall_time: float  # seconds, evaluations included
    eval_time: float


def train(step, evaluate, steps: int, eval_every: int | None, train_avg: int | None = 10,
          first: int = 1, desc: str = "", show_progress: bool = True) -> Trained:
    """Run ``step(t)`` for ``t = first .. steps`` and ``evaluate(t)`` at :func:`eval_steps`.

    ``step(t)`` returns ``(loss, accuracy)`` of its mini-batch (floats, or one per model);
    they are averaged over windows of ``train_avg`` steps (``None``: over the steps since the
    last evaluation, stored at the evaluation). ``evaluate(t)`` returns a dict of metrics.
    ``first`` > 1 continues a training (successive halving trains in several calls).
    """
    curves = Curves()
    evals = eval_steps(steps, eval_every, first)
    losses, accuracies, eval_time = [], [], 0.0
    start = time.perf_counter()
    for t in progress(range(first, steps + 1), desc, show_progress):
        loss, accuracy = step(t)
        losses.append(loss)
        accuracies.append(accuracy)
        if len(losses) == train_avg or (train_avg is None and t in evals):
            curves.add_train(t, losses, accuracies)
            losses, accuracies = [], []
        if t in evals:
            t0 = time.perf_counter()
            curves.add_eval(t, **evaluate(t))
            eval_time += time.perf_counter() - t0
    return Trained(curves, time.perf_counter() - start, eval_time)


def progress(steps: range, desc: str = "", show: bool = True):
    """``steps`` with a text progress bar (tqdm, on stderr, which the built book drops)."""
    if not show:
        return steps
    from tqdm import tqdm

    return tqdm(steps, desc=desc, mininterval=1.0, leave=False)
