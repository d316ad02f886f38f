"""The MLP of the report's section 1.2 in NumPy, its SGD step and its training loop."""

from __future__ import annotations

import numpy as np

from .data import BatchSampler, flatten, one_hot
from .numpy_modules import (
    CrossEntropyModule,
    LinearModule,
    ReLUModule,
    SoftMaxModule,
    log_softmax,
    softmax_cross_entropy_backward,
)
from .results import Run, recorded
from .training import summarize, train


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

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The forward pass without the final softmax."""
        for layer in self.layers[:-1]:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate ``dout = dL/d(probabilities)`` through every layer, storing each
        linear layer's ``grads``; return ``dL/dx`` for the input ``x`` (``None`` with
        ``input_grad=False``, which skips that product: a training step never uses it)."""
        for layer in reversed(self.layers[1:]):
            dout = layer.backward(dout)
        return self.layers[0].backward(dout, input_grad=input_grad)


def sgd_step(model: MLP, learning_rate: float) -> None:
    """Plain SGD: ``p <- p - lr * dL/dp`` for every parameter, in place."""
    for layer in model.linear_layers:
        for name, p in layer.params.items():
            p -= learning_rate * layer.grads[name]


def train_step(model: MLP, x: np.ndarray, targets: np.ndarray, learning_rate: float,
               loss_fn: CrossEntropyModule | None = None) -> tuple[float, np.ndarray]:
    """One SGD step on a batch: forward, loss, backward, update. Returns (loss, probabilities).

    The backward pass starts at the cross-entropy's gradient and goes through the softmax
    by its Jacobian, as derived in the report; it skips the gradient for the input images.
    """
    loss_fn = loss_fn if loss_fn is not None else CrossEntropyModule()
    probs = model.forward(x)
    loss = loss_fn.forward(probs, targets)
    model.backward(loss_fn.backward(probs, targets), input_grad=False)
    sgd_step(model, learning_rate)
    return loss, probs


def fused_train_step(model: MLP, x: np.ndarray, targets: np.ndarray,
                     learning_rate: float) -> tuple[float, np.ndarray]:
    """One SGD step with softmax and cross-entropy *fused*, as PyTorch's ``F.cross_entropy``
    does: the loss from :func:`~course_lib.numpy_modules.log_softmax`, the gradient
    ``(softmax - t) / B``. The same gradient as the report's eqs. (3) and (29) chained
    (chapter 02 shows it), but finite when a probability underflows to 0.
    Returns (loss, logits).
    """
    logits = model.logits(x)
    loss = float(-(targets * log_softmax(logits)).sum() / len(x))
    dout = softmax_cross_entropy_backward(logits, targets)
    for layer in reversed(model.layers[1:-1]):
        dout = layer.backward(dout)
    model.layers[0].backward(dout, input_grad=False)
    sgd_step(model, learning_rate)
    return loss, logits


def evaluate(model: MLP, x: np.ndarray, y: np.ndarray, batch_size: int = 5000,
             fused: bool = False) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on flattened ``x`` and integer labels ``y``.

    ``fused=True`` computes the loss from the logits by ``log_softmax`` (finite when a
    probability underflows), as :func:`fused_train_step` does.
    """
    loss_fn, loss, correct = CrossEntropyModule(), 0.0, 0
    for i in range(0, len(y), batch_size):
        yb = y[i:i + batch_size]
        if fused:
            scores = model.logits(x[i:i + batch_size])
            loss -= float(log_softmax(scores)[np.arange(len(yb)), yb].sum())
        else:
            scores = model.forward(x[i:i + batch_size])
            loss += loss_fn.forward(scores, one_hot(yb, dtype=scores.dtype)) * len(yb)
        correct += int((scores.argmax(axis=1) == yb).sum())
    return loss / len(y), correct / len(y)


def train_numpy_mlp(data, settings, seed: int = 0, learning_rate: float | None = None,
                    model: MLP | None = None, fused: bool = False,
                    show_progress: bool = True) -> Run:
    """Train the report's NumPy MLP on ``data`` (settings: :class:`~course_lib.profiles.NumpyMLP`).

    ``model`` replaces the freshly initialised MLP (the initialisation ablation starts from
    weights drawn by PyTorch); ``fused=True`` trains with :func:`fused_train_step` instead of
    the report's chained softmax and cross-entropy.
    """
    lr = settings.learning_rate if learning_rate is None else learning_rate
    x_train, x_test = flatten(data.x_train), flatten(data.x_test)
    targets_train = one_hot(data.y_train, dtype=x_train.dtype)  # once, not every step
    if model is None:
        model = MLP(x_train.shape[1], list(settings.n_hidden), 10, settings.init_std, seed=seed)
    loss_fn = CrossEntropyModule()
    sampler = BatchSampler(len(data.y_train), settings.batch_size, seed=seed)

    def step(t):
        idx = sampler.next_indices()
        if fused:
            loss, scores = fused_train_step(model, x_train[idx], targets_train[idx], lr)
        else:
            loss, scores = train_step(model, x_train[idx], targets_train[idx], lr, loss_fn)
        return loss, float((scores.argmax(axis=1) == data.y_train[idx]).mean())

    def test(t):
        loss, accuracy = evaluate(model, x_test, data.y_test, fused=fused)
        return dict(test_loss=loss, test_accuracy=accuracy)

    out = train(step, test, settings.steps, settings.eval_every, settings.train_avg,
                desc=f"NumPy MLP seed {seed}", show_progress=show_progress)
    curves = out.curves.of(0)
    return Run(seed, *summarize(curves), curves, out.wall_time, info=dict(learning_rate=lr))


@recorded(device="cpu")  # NumPy runs on the CPU
def run(settings, data, device, show_progress) -> list[Run]:
    """The report's section 1.2: every seed at every rate of ``settings.compare_learning_rates``
    (the report's ``settings.learning_rate`` first), so that rates are compared over the same
    seeds."""
    rates = dict.fromkeys((settings.learning_rate, *settings.compare_learning_rates))
    return [train_numpy_mlp(data, settings, seed, lr, show_progress=show_progress)
            for lr in rates for seed in settings.seeds]
