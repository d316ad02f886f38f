"""What every training loop of the course shares: curves, their summary, a quiet progress bar.

Curves follow the report's figures: training loss and accuracy averaged over the last
``train_avg`` (10) steps, and evaluation metrics measured every ``eval_every`` steps.
"""

from __future__ import annotations

import numpy as np


class Curves:
    """Collects training and evaluation curves of one run.

    ``add_train(step, loss, accuracy)`` is called every step; every ``train_avg`` steps
    the mean of the last ``train_avg`` values is stored at that step.
    ``add_eval(step, **metrics)`` stores metrics such as ``test_loss=..., test_accuracy=...``.
    """

    def __init__(self, train_avg: int = 10):
        self.train_avg = train_avg
        self.train = {"step": [], "loss": [], "accuracy": []}
        self.eval: dict[str, list] = {"step": []}
        self._loss: list[float] = []
        self._acc: list[float] = []

    def add_train(self, step: int, loss: float, accuracy: float) -> None:
        self._loss.append(float(loss))
        self._acc.append(float(accuracy))
        if len(self._loss) == self.train_avg:
            self.train["step"].append(int(step))
            self.train["loss"].append(float(np.mean(self._loss)))
            self.train["accuracy"].append(float(np.mean(self._acc)))
            self._loss, self._acc = [], []

    def add_eval(self, step: int, **metrics: float) -> None:
        self.eval["step"].append(int(step))
        for name, value in metrics.items():
            self.eval.setdefault(name, []).append(float(value))

    def as_dict(self) -> dict:
        return {"train": self.train, "eval": self.eval}


def summarize(curves: dict, metric: str = "test_accuracy") -> tuple[dict, dict]:
    """``(final, best)`` of a run from its curves: the last evaluation, and the best ``metric``."""
    ev = curves["eval"]
    if not ev["step"]:
        raise ValueError("the run has no evaluation point")
    final = {k: v[-1] for k, v in ev.items() if k != "step"}
    final["step"] = ev["step"][-1]
    if curves["train"]["step"]:
        final["train_loss"] = curves["train"]["loss"][-1]
        final["train_accuracy"] = curves["train"]["accuracy"][-1]
    i = int(np.argmax(ev[metric]))
    best = {metric: ev[metric][i], "step": ev["step"][i]}
    return final, best


def eval_steps(steps: int, eval_every: int) -> set[int]:
    """The steps at which to evaluate: every ``eval_every`` steps and always the last one."""
    return set(range(eval_every, steps + 1, eval_every)) | {steps}


def progress(total: int, desc: str = "", **kwargs):
    """A text progress bar over ``range(total)`` (tqdm, written to stderr).

    The book's configuration removes stderr from the built pages, so a chapter shows a bar
    when run interactively and no progress-bar noise in the built book.
    """
    from tqdm import tqdm

    return tqdm(range(total), desc=desc, mininterval=1.0, leave=False, **kwargs)
