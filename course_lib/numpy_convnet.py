"""The course's VGG network (``convnet.ConvNet``) built from the NumPy layers of
:mod:`course_lib.layers`, with weights copied from a PyTorch ``ConvNet``.

Chapter "Layers by hand" checks that its loss and the gradient of every parameter equal
PyTorch's autograd to float64 rounding, and that one Adam step (:class:`course_lib.optim.Adam`)
gives the weights that ``torch.optim.Adam`` gives.
"""

from __future__ import annotations

import numpy as np

from .convnet import ARCHITECTURE
from .layers import BatchNorm2dModule, Conv2dModule, MaxPool2dModule
from .numpy_modules import LinearModule, ReLUModule, log_softmax, softmax_cross_entropy_backward


class NumpyConvNet:
    """``[conv 3x3 -> BatchNorm -> ReLU] and max-pools`` as in ``ARCHITECTURE``, then the
    linear layer 512 -> ``n_classes`` on the 1x1 map; ``forward`` returns the logits."""

    def __init__(self, n_channels: int = 3, n_classes: int = 10, seed: int | None = None,
                 dtype=np.float64):
        rng = np.random.default_rng(seed)
        self.layers: list[tuple[str, object]] = []
        for name, c_in, c_out in ARCHITECTURE:
            if c_in is None:
                self.layers.append((name, MaxPool2dModule(3, stride=2, padding=1)))
                continue
            c_in = n_channels if name == "conv1" else c_in
            self.layers += [(name, Conv2dModule(c_in, c_out, 3, 1, 1, rng=rng, dtype=dtype)),
                            (f"{name}_bn", BatchNorm2dModule(c_out, dtype=dtype)),
                            (f"{name}_relu", ReLUModule())]
        self.layers.append(("linear", LinearModule(512, n_classes, rng=rng, dtype=dtype)))

    @classmethod
    def from_torch(cls, model, dtype=np.float64) -> NumpyConvNet:
        """A copy of a single, BatchNorm ``convnet.ConvNet`` (its parameters and running
        statistics), converted to ``dtype``."""
        if model.n_models != 1 or not model.batch_norm:
            raise ValueError("from_torch copies a single ConvNet with BatchNorm")
        net = cls(model.n_channels, model.n_classes, dtype=dtype)
        state = {k: v.detach().cpu().numpy().astype(dtype) for k, v in model.state_dict().items()}
        for name, layer in net.layers:
            prefix = "linear" if name == "linear" else f"features.{name}"
            for key in getattr(layer, "params", {}):
                layer.params[key] = state[f"{prefix}.{key}"].reshape(layer.params[key].shape)
            if isinstance(layer, BatchNorm2dModule):
                layer.running_mean = state[f"{prefix}.running_mean"]
                layer.running_var = state[f"{prefix}.running_var"]
        return net.train(model.training)

    def modules(self) -> dict:
        """The layers that have parameters, by PyTorch's name (``conv1``, ``conv1_bn``, ...)."""
        return {name: layer for name, layer in self.layers if hasattr(layer, "params")}

    def train(self, mode: bool = True) -> NumpyConvNet:
        for _, layer in self.layers:
            if hasattr(layer, "train"):
                layer.train(mode)
        return self

    def eval(self) -> NumpyConvNet:
        return self.train(False)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for name, layer in self.layers:
            if name == "linear":
                x = x.reshape(len(x), -1)  # [N, 512, 1, 1] -> [N, 512]
            x = layer.forward(x)
        return x

    def backward(self, dlogits: np.ndarray) -> None:
        """Backpropagate ``dL/dlogits`` through every layer, storing each layer's ``grads``
        (the input's gradient, which nothing uses, is not computed)."""
        dout = dlogits
        for name, layer in reversed(self.layers):
            if name == "conv1":
                layer.backward(dout, input_grad=False)
            else:
                dout = layer.backward(dout)
            if name == "linear":
                dout = dout.reshape(len(dout), -1, 1, 1)


def loss_and_gradient(net: NumpyConvNet, x: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of ``net`` on images ``x`` and labels ``y``; fills every ``grads``
    by the fused softmax cross-entropy gradient [eq-softmax-ce] and backpropagation."""
    logits = net.forward(x)
    targets = np.eye(logits.shape[1], dtype=logits.dtype)[y]
    loss = -float(np.mean(np.sum(targets * log_softmax(logits), axis=1)))
    net.backward(softmax_cross_entropy_backward(logits, targets))
    return loss
