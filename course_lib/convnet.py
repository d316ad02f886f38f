"""The VGG-style CNN of the report's section 4 (the original assignment's table).

Every conv is 3x3, stride 1, padding 1, followed by BatchNorm and ReLU; every max-pool is
3x3, stride 2, padding 1, so the spatial size goes 32 -> 16 -> 8 -> 4 -> 2 -> 1.

``n_models > 1`` builds that many *independent* networks side by side as grouped
convolutions: model ``g`` owns channels ``[g*C, (g+1)*C)`` of every layer, so one call
trains several seeds at once (a GPU runs them for little more than the cost of one).
With ``n_models=1`` it is the plain network. Equation numbers are those of chapter 7.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from .data import BatchSampler
from .results import Run, recorded
from .training import summarize, train

#: (name, in_channels, out_channels) of each conv, or (name, None, None) for a max-pool.
ARCHITECTURE = [
    ("conv1", 3, 64), ("maxpool1", None, None),
    ("conv2", 64, 128), ("maxpool2", None, None),
    ("conv3_a", 128, 256), ("conv3_b", 256, 256), ("maxpool3", None, None),
    ("conv4_a", 256, 512), ("conv4_b", 512, 512), ("maxpool4", None, None),
    ("conv5_a", 512, 512), ("conv5_b", 512, 512), ("maxpool5", None, None),
]


class ConvNet(nn.Module):
    """``ConvNet(n_channels, n_classes, batch_norm=True, n_models=1)``.

    Input ``[B, n_models * n_channels, 32, 32]`` (model ``g`` reads channels
    ``[g*n_channels, (g+1)*n_channels)``); output logits ``[B, n_classes]`` for one model,
    ``[B, n_models, n_classes]`` for several.
    """

    def __init__(self, n_channels: int = 3, n_classes: int = 10, batch_norm: bool = True,
                 n_models: int = 1):
        super().__init__()
        self.n_channels, self.n_classes, self.n_models = n_channels, n_classes, n_models
        self.batch_norm = batch_norm
        g = n_models
        layers: list[tuple[str, nn.Module]] = []
        for name, c_in, c_out in ARCHITECTURE:
            if c_in is None:
                layers.append((name, nn.MaxPool2d(kernel_size=3, stride=2, padding=1)))
                continue
            c_in = n_channels if name == "conv1" else c_in
            layers.append((name, nn.Conv2d(g * c_in, g * c_out, 3, stride=1, padding=1, groups=g)))
            if batch_norm:
                layers.append((f"{name}_bn", nn.BatchNorm2d(g * c_out)))
            layers.append((f"{name}_relu", nn.ReLU(inplace=True)))
        layers.append(("avgpool", nn.AvgPool2d(kernel_size=1, stride=1, padding=0)))
        self.features = nn.Sequential(OrderedDict(layers))
        # A 1x1 convolution on the 1x1 map is exactly the linear layer 512 -> n_classes;
        # written this way so that n_models copies share one grouped call.
        self.linear = nn.Conv2d(g * 512, g * n_classes, kernel_size=1, groups=g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.n_models * self.n_channels:
            raise ValueError(f"expected input [B, {self.n_models * self.n_channels}, H, W], "
                             f"got {list(x.shape)}")
        out = self.linear(self.features(x)).flatten(1)  # [B, n_models * n_classes]
        return out if self.n_models == 1 else out.view(len(x), self.n_models, self.n_classes)


# --------------------------------------------------------------------------------------------
# Several seeds as one grouped network
# --------------------------------------------------------------------------------------------

def init_convnet(seed: int, batch_norm: bool = True, n_channels: int = 3,
                 n_classes: int = 10) -> ConvNet:
    """One network with PyTorch's default initialisation drawn from ``torch`` seed ``seed``.

    The global random state is left untouched, so ``seed`` alone fixes the weights.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ConvNet(n_channels, n_classes, batch_norm=batch_norm)


@torch.no_grad()
def stack_models(models: list[ConvNet]) -> ConvNet:
    """One grouped ConvNet whose model ``g`` is a copy of ``models[g]`` (eq. (6.2)).

    Every parameter and buffer of a grouped layer is the concatenation of the single
    models' tensors along the output channels (dimension 0), so model ``g`` owns rows
    ``[g*n, (g+1)*n)``.
    """
    first = models[0]
    grouped = ConvNet(first.n_channels, first.n_classes, first.batch_norm, n_models=len(models))
    grouped = grouped.to(next(first.parameters()))  # the models' dtype and device
    target = grouped.state_dict()
    for name, t in target.items():
        parts = [m.state_dict()[name] for m in models]
        t.copy_(parts[0] if t.dim() == 0 else torch.cat(parts))  # dim 0: BN's step counter
    return grouped


def grouped_loss(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(total, per_model)``: each model's mean cross-entropy and their sum (eq. (6.3)).

    ``logits`` ``[B, G, C]``, ``y`` ``[B, G]`` (model ``g`` sees labels ``y[:, g]``). No
    parameter is shared between models, so the gradient of the sum with respect to model
    ``g``'s parameters is exactly the gradient of model ``g``'s own loss.
    """
    per_model = nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(0)
    return per_model.sum(), per_model


def adam(params, lr: float) -> torch.optim.Adam:
    """Adam; the fused kernel (one launch for all parameters) where this PyTorch has it."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


@torch.no_grad()
def fold_batchnorm(model: ConvNet) -> ConvNet:
    """The network as it evaluates, with every BatchNorm folded into the convolution before it.

    At evaluation BatchNorm is a fixed affine map per channel, ``γ (z - μ) / sqrt(σ² + ε) + β``
    with the running ``μ, σ²``. Applied to a convolution's output ``z = W * x + b`` it is again
    a convolution: ``W' = s W`` and ``b' = s (b - μ) + β``, with ``s = γ / sqrt(σ² + ε)`` per
    output channel [eq-bn-fold]. A network without BatchNorm is returned as it is.
    """
    if not model.batch_norm:
        return model
    folded = ConvNet(model.n_channels, model.n_classes, batch_norm=False, n_models=model.n_models)
    folded = folded.to(next(model.parameters())).eval()
    for name, conv in folded.features.named_children():
        if isinstance(conv, nn.Conv2d):
            src, bn = getattr(model.features, name), getattr(model.features, f"{name}_bn")
            s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv.weight.copy_(src.weight * s.view(-1, 1, 1, 1))
            conv.bias.copy_(s * (src.bias - bn.running_mean) + bn.bias)
    folded.linear.load_state_dict(model.linear.state_dict())
    return folded


@torch.inference_mode()
def evaluate(model: ConvNet, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500,
             memory_format=torch.contiguous_format,
             fold: bool = False) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Every model of ``model`` on the same images ``x`` ``[N, 3, 32, 32]``, in eval mode
    (``fold``: through :func:`fold_batchnorm`'s network, the same function in fewer passes).

    Returns per-model mean cross-entropy ``[G]``, accuracy ``[G]`` and the class
    probabilities ``[N, G, C]`` (on ``x``'s device).
    """
    was_training = model.training
    net = fold_batchnorm(model) if fold else model.eval()
    G = model.n_models
    log_probs = []
    for i in range(0, len(y), batch_size):
        xb = x[i:i + batch_size].repeat(1, G, 1, 1).contiguous(memory_format=memory_format)
        log_probs.append(net(xb).view(len(xb), G, -1).float().log_softmax(-1))
    model.train(was_training)
    log_probs = torch.cat(log_probs)
    loss = -log_probs.gather(2, y.view(-1, 1, 1).expand(-1, G, 1)).squeeze(2).mean(0)
    probs = log_probs.exp()
    acc = (probs.argmax(2) == y.view(-1, 1)).float().mean(0)
    return loss.cpu().numpy(), acc.cpu().numpy(), probs


def _eval_subset(n_test: int, eval_size: int | None) -> np.ndarray | None:
    """A fixed (seed 0) subset of the test set for intermediate evaluations; ``None``: all."""
    if eval_size is None or eval_size >= n_test:
        return None
    return np.sort(np.random.default_rng(0).choice(n_test, eval_size, replace=False))


def train_convnets(data, settings, seeds: list[int], batch_norm: bool = True,
                   device: str | torch.device | None = None, show_progress: bool = True,
                   desc: str = "ConvNet") -> tuple[list[Run], np.ndarray]:
    """Train one ConvNet per seed, all together as one grouped network (Adam, cross-entropy).

    Seed ``s`` gives the same initial weights (:func:`init_convnet`) and the same data order
    (``BatchSampler(seed=s)``) whether it is trained alone or among others. Every
    ``eval_every`` steps all models are evaluated on the test set (on ``eval_size`` fixed
    test images if set, except at the last step, which always uses the whole test set).
    Returns one run per seed and the final test-set class probabilities ``[G, N_test, 10]``.
    """
    device = torch.device(device or "cpu")
    # channels_last (NHWC) suits cuDNN's and oneDNN's kernels: on this project's 2-core CPU the
    # step took 0.93 of NCHW's time (benchmarks/bench_cnn.py --compare, 2026-11-27).
    fmt = torch.channels_last
    G, B, steps = len(seeds), settings.batch_size, settings.steps
    model = stack_models([init_convnet(s, batch_norm) for s in seeds])
    model = model.to(device, memory_format=fmt).train()
    optimizer = adam(model.parameters(), settings.learning_rate)
    x_train, y_train, x_test, y_test = (torch.as_tensor(a).to(device) for a in (
        data.x_train, data.y_train, data.x_test, data.y_test))
    subset = _eval_subset(len(data.y_test), settings.eval_size)
    sub = None if subset is None else torch.as_tensor(subset).to(device)
    x_eval, y_eval = (x_test, y_test) if sub is None else (x_test[sub], y_test[sub])
    samplers = [BatchSampler(len(data.y_train), B, seed=s) for s in seeds]  # one per seed
    final_probs = []

    def step(t):
        idx = torch.from_numpy(np.stack([s.next_indices() for s in samplers])).to(device)  # [G, B]
        xb = x_train[idx.T].flatten(1, 2).contiguous(memory_format=fmt)  # [B, G*3, 32, 32]
        yb = y_train[idx.T]                                            # [B, G]
        logits = model(xb).view(B, G, -1)
        loss, per_model = grouped_loss(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return per_model.detach(), (logits.detach().argmax(2) == yb).float().mean(0)

    def test(t):
        last = t == steps
        loss, accuracy, probs = evaluate(model, x_test if last else x_eval,
                                         y_test if last else y_eval, memory_format=fmt,
                                         fold=True)
        if last:
            final_probs.append(probs)
        return dict(test_loss=loss, test_accuracy=accuracy)

    out = train(step, test, steps, settings.eval_every, settings.train_avg, desc=desc,
                show_progress=show_progress)
    runs = []
    for g, seed in enumerate(seeds):
        curves = out.curves.of(g)
        # The models trained together: each gets an equal share of the time.
        runs.append(Run(seed, *summarize(curves), curves, out.wall_time / G,
                        "batch_norm" if batch_norm else "no_batch_norm",
                        dict(group_wall_time=out.wall_time, group_eval_time=out.eval_time,
                             n_models=G)))
    return runs, final_probs[0].transpose(0, 1).cpu().numpy()


# --------------------------------------------------------------------------------------------
# The experiment of the report's section 4
# --------------------------------------------------------------------------------------------

@contextmanager
def _fast_kernels(device: torch.device):
    """On a GPU: TF32 tensor cores for convolutions and matmuls, cuDNN autotuning."""
    if device.type != "cuda":
        yield
        return
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.benchmark)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
         torch.backends.cudnn.benchmark) = saved


@recorded
def run(settings, data, device, show_progress) -> tuple[list[Run], dict, dict]:
    """Train ``settings.seeds`` ConvNets for each of ``settings.variants`` and record them.

    On a GPU all seeds of a variant train as one grouped network, which fills the GPU; a
    CPU's cores are already busy with one network, so there each seed is its own group. The record's
    ``memory["probabilities"]`` (kept in memory, not written) maps ``(variant, seed)`` to the
    run's final test-set class probabilities ``[N_test, 10]``.
    """
    device = torch.device(device)
    seeds = list(settings.seeds)
    per_group = len(seeds) if device.type == "cuda" else 1
    runs, probabilities = [], {}
    with _fast_kernels(device):
        for variant in settings.variants:
            if variant not in ("batch_norm", "no_batch_norm"):
                raise ValueError(f"unknown variant {variant!r}")
            for i in range(0, len(seeds), per_group):
                group = seeds[i:i + per_group]
                group_runs, probs = train_convnets(
                    data, settings, group, batch_norm=variant == "batch_norm", device=device,
                    show_progress=show_progress, desc=f"{variant} seeds {group}")
                runs += group_runs
                probabilities.update({(variant, r.seed): p for r, p in zip(group_runs, probs)})
    return runs, dict(models_per_group=per_group), dict(probabilities=probabilities)
