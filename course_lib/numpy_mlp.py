"""The MLP of the report's section 1.2 in NumPy, its SGD step and its training loop."""

from __future__ import annotations

import time

import numpy as np

from .data import BatchSampler, flatten, one_hot
from .numpy_modules import CrossEntropyModule, LinearModule, ReLUModule, SoftMaxModule
from .training import Curves, eval_steps, progress, summarize


class MLP:
    """``n_inputs -> [Linear -> ReLU] * len(n_hidden) -> Linear -> SoftMax``.

    ``n_hidden=[]`` is softmax regression. ``forward`` returns class probabilities.
    """

    def __init__(self, n_inputs: int, n_hidden: list[int], n_classes: int,
                 init_std: float = 1e-4, seed: int | None = None, dtype=np.float32):
        rng = np.random.default_rng(seed)
        sizes = [n_inputs, *n_hidden, n_classes]
        self.layers = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.layers.append(LinearModule(fan_in, fan_out, init_std, rng, dtype))
            self.layers.append(ReLUModule() if i < len(n_hidden) else SoftMaxModule())

    @property
    def linear_layers(self) -> list[LinearModule]:
        return [m for m in self.layers if isinstance(m, LinearModule)]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout


def sgd_step(model: MLP, learning_rate: float) -> None:
    """Plain SGD: ``p <- p - lr * dL/dp`` for every parameter, in place."""
    for layer in model.linear_layers:
        for name, p in layer.params.items():
            p -= learning_rate * layer.grads[name]


def evaluate(model: MLP, x: np.ndarray, y: np.ndarray, batch_size: int = 5000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on flattened ``x`` and integer labels ``y``."""
    loss_fn, loss, correct = CrossEntropyModule(), 0.0, 0
    for i in range(0, len(y), batch_size):
        probs = model.forward(x[i:i + batch_size])
        yb = y[i:i + batch_size]
        loss += loss_fn.forward(probs, one_hot(yb)) * len(yb)
        correct += int((probs.argmax(axis=1) == yb).sum())
    return loss / len(y), correct / len(y)


def train_numpy_mlp(data, settings: dict, seed: int = 0, learning_rate: float | None = None,
                    show_progress: bool = True) -> dict:
    """Train the report's NumPy MLP on ``data`` (a :class:`~course_lib.data.CIFAR10`).

    ``settings`` are :func:`course_lib.profiles.settings` ``("numpy_mlp")``. Returns one run:
    ``seed``, ``learning_rate``, ``final`` and ``best`` metrics, ``curves``, ``wall_time``.
    """
    lr = settings["learning_rate"] if learning_rate is None else learning_rate
    x_train, x_test = flatten(data.x_train), flatten(data.x_test)
    model = MLP(x_train.shape[1], settings["n_hidden"], 10, settings["init_std"], seed=seed)
    loss_fn = CrossEntropyModule()
    sampler = BatchSampler(len(data.y_train), settings["batch_size"], seed=seed)
    curves = Curves(settings["train_avg"])
    evals = eval_steps(settings["steps"], settings["eval_every"])
    steps = progress(settings["steps"], f"NumPy MLP seed {seed}") if show_progress \
        else range(settings["steps"])
    start = time.perf_counter()
    for step in (s + 1 for s in steps):
        idx = sampler.next_indices()
        xb, yb = x_train[idx], data.y_train[idx]
        targets = one_hot(yb)
        probs = model.forward(xb)
        curves.add_train(step, loss_fn.forward(probs, targets),
                         float((probs.argmax(axis=1) == yb).mean()))
        model.backward(loss_fn.backward(probs, targets))
        sgd_step(model, lr)
        if step in evals:
            test_loss, test_acc = evaluate(model, x_test, data.y_test)
            curves.add_eval(step, test_loss=test_loss, test_accuracy=test_acc)
    wall = time.perf_counter() - start
    curves = curves.as_dict()
    final, best = summarize(curves)
    return dict(seed=seed, learning_rate=lr, final=final, best=best, curves=curves,
                wall_time=wall)
