"""The report's ConvNet trained as it is done today (chapter "What the report could have done").

Each ingredient is one small function, written as its equation, and one flag of
:class:`course_lib.profiles.Recipe`:

- ``nesterov``: SGD with Nesterov momentum (``optim.sgd_nesterov``) under :func:`learning_rate`,
  a linear warm-up and decay [eq-schedule]; off, the report's Adam at a constant 1e-4;
- ``augment``: a random mirror image (:func:`flip`) and translation (:func:`translate`), drawn
  per image and applied on the device to the whole batch at once;
- ``label_smoothing``: cross-entropy against smoothed targets [eq-ls-loss], whose gradient is
  the softmax minus the smoothed target [eq-ls-grad];
- ``whiten``: a frozen first convolution that whitens 3x3 patches [eq-whiten];
- ``ema``: evaluate a moving average of the weights [eq-ema];
- ``tta``: predict with the mean logits of the image and its mirror image.

The last two change only what is evaluated, so one training gives the runs with and without
them, exactly paired. Speed-only settings (bf16 autocast, channels_last, the data held on the
device, several seeds as one grouped network) change rounding, not the arithmetic.
:func:`run` trains every configuration of ``settings.variants`` and records them; :func:`table`
turns the record into the table of the chapter and of the reproduction page.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import convnet, profiles, report, results, stats
from .data import BatchSampler
from .results import Record, Run
from .training import summarize, train

#: The ingredients, in the order of the cumulative path from the report's settings.
INGREDIENTS = profiles.RECIPE_INGREDIENTS
#: Each ingredient's "off" value (the report's way).
OFF = dict(nesterov=False, augment=False, label_smoothing=0.0, whiten=False, ema=False,
           tta=False)
#: Ingredients that change only the evaluation: one training serves both values.
EVALUATION_ONLY = ("ema", "tta")
#: The report's own training, for longer (chapter 7's code and settings).
REPORT_LONGER = profiles.REPORT_LONGER


# --------------------------------------------------------------------------------------------
# The ingredients
# --------------------------------------------------------------------------------------------

def mirror(x: torch.Tensor) -> torch.Tensor:
    """Images ``[N, C, H, W]`` mirrored left to right."""
    return x.flip(-1)


def flip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Image ``n`` of ``x`` ``[N, C, H, W]`` mirrored where ``mask[n]`` is true."""
    return torch.where(mask.view(-1, 1, 1, 1), mirror(x), x)


def translate(x: torch.Tensor, shifts: torch.Tensor, pad: int) -> torch.Tensor:
    """Image ``n`` moved down by ``shifts[n, 0]`` and right by ``shifts[n, 1]`` pixels (each in
    ``[-pad, pad]``); the pixels that come in are the image's own, reflected at its border.

    One gather for the whole batch: output pixel ``(i, j)`` of image ``n`` is pixel
    ``(i + pad - shifts[n, 0], j + pad - shifts[n, 1])`` of the padded image.
    """
    N, C, H, W = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    rows = (pad - shifts[:, 0]).view(N, 1, 1, 1) + torch.arange(H, device=x.device).view(H, 1)
    cols = (pad - shifts[:, 1]).view(N, 1, 1, 1) + torch.arange(W, device=x.device)
    n = torch.arange(N, device=x.device).view(N, 1, 1, 1)
    c = torch.arange(C, device=x.device).view(1, C, 1, 1)
    return padded[n, c, rows, cols]


def draw_augmentation(rng: np.random.Generator, n: int, pad: int) -> tuple[np.ndarray, ...]:
    """For ``n`` images: whether to mirror each (probability 1/2), and its shift (rows,
    columns), each uniform on ``-pad .. pad``."""
    return rng.random(n) < 0.5, rng.integers(-pad, pad + 1, size=(n, 2))


def smoothed_targets(y: torch.Tensor, n_classes: int, eps: float,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``q = (1 - eps) onehot(y) + eps / C`` [eq-ls-target], ``[..., C]`` for labels ``[...]``."""
    return (1 - eps) * F.one_hot(y, n_classes).to(dtype) + eps / n_classes


def smoothed_cross_entropy(logits: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """``-sum_c q_c log softmax(z)_c`` averaged over the batch (dimension 0) [eq-ls-loss].

    ``logits`` ``[B, C]`` gives a number; grouped logits ``[B, G, C]`` with labels ``[B, G]``
    give one loss per model ``[G]``. ``eps = 0`` is the plain cross-entropy.
    """
    q = smoothed_targets(y, logits.shape[-1], eps, logits.dtype)
    return -(q * logits.log_softmax(-1)).sum(-1).mean(0)


def smoothed_cross_entropy_backward(logits: torch.Tensor, y: torch.Tensor,
                                    eps: float) -> torch.Tensor:
    """The gradient of :func:`smoothed_cross_entropy` for logits ``[B, C]``: ``(p - q) / B``
    [eq-ls-grad]."""
    q = smoothed_targets(y, logits.shape[-1], eps, logits.dtype)
    return (logits.softmax(-1) - q) / len(logits)


def learning_rate(t: int, steps: int, peak: float, warmup: float) -> float:
    """The rate of step ``t`` (1 .. steps): up from 0 to ``peak`` over the first ``warmup``
    fraction of the steps, then down to 0 at the last step, both linearly [eq-schedule]."""
    return float(np.interp(t, [0, max(1, round(warmup * steps)), steps], [0, peak, 0]))


def patches(x: torch.Tensor, k: int) -> torch.Tensor:
    """Every ``k x k`` patch of images ``[N, C, H, W]`` as a row ``[N * L, C * k * k]``, in the
    order of a convolution's weights ``[out, C, k, k]`` flattened."""
    return F.unfold(x, k).transpose(1, 2).reshape(-1, x.shape[1] * k * k)


def whitening_filters(x: torch.Tensor, k: int = 3, eps: float = 5e-4) -> torch.Tensor:
    """Convolution filters ``[C k k, C, k, k]`` that whiten the ``k x k`` patches of ``x``.

    With the patches' covariance ``Sigma = V diag(lambda) V^T`` [eq-patch-cov], filter ``i`` is
    eigenvector ``v_i / sqrt(lambda_i + eps mean(lambda))`` [eq-whiten], so the filtered patches
    have covariance ``diag(lambda / (lambda + eps mean(lambda)))``, the identity but for the
    smallest eigenvalues, which ``eps`` keeps from being blown up. Computed in float64.
    """
    p = patches(x.double(), k)
    p = p - p.mean(0)
    cov = p.T @ p / (len(p) - 1)
    lam, V = torch.linalg.eigh(cov)
    W = V.T / torch.sqrt(lam + eps * lam.mean()).unsqueeze(1)
    return W.reshape(-1, x.shape[1], k, k)


class PatchWhitening(nn.Module):
    """The frozen first convolution: ``filters`` (a buffer, not a parameter, so no optimiser
    changes it), repeated for each of ``n_models`` grouped models; padding keeps the size."""

    def __init__(self, filters: torch.Tensor, n_models: int = 1):
        super().__init__()
        self.n_models = n_models
        self.register_buffer("weight", filters.float().repeat(n_models, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, padding=self.weight.shape[-1] // 2, groups=self.n_models)


def ema(average, w, decay: float):
    """The moving average after one more step: ``decay average + (1 - decay) w`` [eq-ema]."""
    return decay * average + (1 - decay) * w


@torch.no_grad()
def update_average(average: nn.Module, model: nn.Module, decay: float) -> None:
    """:func:`ema` for every parameter and BatchNorm statistic of ``model``, in place
    (``lerp``: ``a + (1 - decay) (w - a)``); counters are copied."""
    for a, w in zip(average.state_dict().values(), model.state_dict().values()):
        if a.is_floating_point():
            a.lerp_(w, 1 - decay)
        else:
            a.copy_(w)


# --------------------------------------------------------------------------------------------
# The network, its training and its evaluation
# --------------------------------------------------------------------------------------------

class RecipeNet(nn.Module):
    """The report's ConvNet, after a :class:`PatchWhitening` layer when ``whitening`` is given
    (then its first convolution reads the whitened channels instead of the 3 colours)."""

    def __init__(self, net: convnet.ConvNet, whitening: PatchWhitening | None = None):
        super().__init__()
        self.whiten = whitening if whitening is not None else nn.Identity()
        self.net, self.n_models = net, net.n_models

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.whiten(x))


def build(seeds: list[int], filters: torch.Tensor | None = None) -> RecipeNet:
    """One grouped network of the seeds' ConvNets (chapter 7's :func:`convnet.init_convnet`,
    :func:`convnet.stack_models`), whitened by ``filters`` if given."""
    n_channels = 3 if filters is None else filters.shape[0]
    net = convnet.stack_models([convnet.init_convnet(s, n_channels=n_channels) for s in seeds])
    return RecipeNet(net, None if filters is None else PatchWhitening(filters, len(seeds)))


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on any device (CPU included), or nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()


@torch.inference_mode()
def predict(model: RecipeNet, x: torch.Tensor, tta: bool = False, bf16: bool = False,
            batch_size: int = 1000) -> torch.Tensor:
    """Logits ``[N, G, C]`` of every model on images ``x`` ``[N, 3, H, W]`` in eval mode; with
    ``tta`` the mean of the logits of each image and of its mirror image."""
    was_training = model.training
    model.eval()
    G, out = model.n_models, []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].repeat(1, G, 1, 1).contiguous(memory_format=torch.channels_last)
        with autocast(x.device, bf16):
            logits = model(xb).float()
            if tta:
                logits = (logits + model(mirror(xb)).float()) / 2
        out.append(logits.view(len(xb), G, -1))
    model.train(was_training)
    return torch.cat(out)


def metric_name(ema: bool, tta: bool) -> str:
    """The metric of an evaluation: ``test_accuracy``, ``test_accuracy_ema_tta``, ..."""
    return "test_accuracy" + "_ema" * ema + "_tta" * tta


def train_recipe(data, s: profiles.Recipe, seeds: list[int], device=None,
                 show_progress: bool = True, desc: str = "recipe") -> list[Run]:
    """Train one network per seed under the recipe ``s`` (its training ingredients), all as one
    grouped network, and evaluate the last step four ways: with and without the weights'
    moving average and test-time augmentation (:func:`metric_name`).

    Seed ``s`` fixes the initial weights, the mini-batches (``BatchSampler(seed=s)``) and the
    augmentation (its own generator), whatever the group it trains in. The evaluations before
    the last, once per epoch, use the current weights on ``eval_size`` fixed test images; the
    training loss and accuracy are averaged over each epoch.
    """
    device = torch.device(device or "cpu")
    fmt = torch.channels_last
    G, B = len(seeds), s.batch_size
    steps = s.epochs * (len(data.y_train) // B)
    x_train, y_train, x_test, y_test = (torch.as_tensor(a).to(device) for a in (
        data.x_train, data.y_train, data.x_test, data.y_test))
    filters = whitening_filters(x_train[:s.whiten_images], 3, s.whiten_eps) if s.whiten else None
    model = build(seeds, filters).to(device, memory_format=fmt).train()
    average = copy.deepcopy(model)
    if s.nesterov:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=s.momentum,
                                    nesterov=True, weight_decay=s.weight_decay)
    else:
        optimizer = convnet.adam(model.parameters(), report.CNN_LEARNING_RATE)
    samplers = [BatchSampler(len(data.y_train), B, seed=seed) for seed in seeds]
    rngs = [np.random.default_rng([seed, 1]) for seed in seeds]  # the augmentation's
    subset = convnet._eval_subset(len(y_test), s.eval_size)
    sub = None if subset is None else torch.as_tensor(subset).to(device)

    def step(t):
        idx = torch.from_numpy(np.stack([sm.next_indices() for sm in samplers])).to(device)
        xb, yb = x_train[idx.T], y_train[idx.T]                      # [B, G, 3, 32, 32], [B, G]
        if s.augment:
            masks, shifts = zip(*(draw_augmentation(r, B, s.translate) for r in rngs))
            mask = torch.from_numpy(np.stack(masks, 1)).to(device).flatten()    # [B * G]
            shift = torch.from_numpy(np.stack(shifts, 1)).to(device).flatten(0, 1)
            xb = translate(flip(xb.flatten(0, 1), mask), shift, s.translate).view(B, G, 3, 32, 32)
        xb = xb.flatten(1, 2).contiguous(memory_format=fmt)          # [B, G*3, 32, 32]
        if s.nesterov:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(t, steps, s.learning_rate, s.warmup)
        with autocast(device, s.bf16):
            logits = model(xb).view(B, G, -1)
        per_model = smoothed_cross_entropy(logits.float(), yb, s.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        per_model.sum().backward()
        optimizer.step()
        update_average(average, model, s.ema_decay)
        return per_model.detach(), (logits.detach().argmax(2) == yb).float().mean(0)

    def accuracy(net, x, y, tta):
        return (predict(net, x, tta, s.bf16).argmax(2) == y.view(-1, 1)).float().mean(0)

    def test(t):
        if t < steps:
            x, y = (x_test, y_test) if sub is None else (x_test[sub], y_test[sub])
            return {metric_name(False, False): accuracy(model, x, y, False)}
        return {metric_name(e, a): accuracy(average if e else model, x_test, y_test, a)
                for e in (False, True) for a in (False, True)}

    out = train(step, test, steps, len(data.y_train) // B, None, desc=desc,
                show_progress=show_progress)
    runs = []
    for g, seed in enumerate(seeds):
        curves = out.curves.of(g)
        final, best = summarize(curves)
        runs.append(Run(seed, final, best, curves, out.wall_time / G, "",
                        dict(group_wall_time=out.wall_time, n_models=G, steps=steps)))
    return runs


# --------------------------------------------------------------------------------------------
# Configurations: the full recipe, one ingredient left out, the cumulative path
# --------------------------------------------------------------------------------------------

def without(s: profiles.Recipe, *names: str) -> profiles.Recipe:
    """``s`` with the ingredients ``names`` switched off."""
    return dataclasses.replace(s, **{n: OFF[n] for n in names})


def configuration(s: profiles.Recipe, name: str) -> profiles.Recipe:
    """The settings of configuration ``name``: ``full`` (``s`` itself), ``no_<ingredient>``
    (leave-one-out) or ``path_<k>`` (only the first ``k`` of :data:`INGREDIENTS`)."""
    if name == "full":
        return s
    if name.startswith("no_") and name[3:] in INGREDIENTS:
        return without(s, name[3:])
    if name.startswith("path_") and name[5:].isdigit() and int(name[5:]) <= len(INGREDIENTS):
        return without(s, *INGREDIENTS[int(name[5:]):])
    raise ValueError(f"unknown configuration {name!r}: full, no_<ingredient>, path_<k> or "
                     f"{REPORT_LONGER}; ingredients: {', '.join(INGREDIENTS)}")


def ingredients(s: profiles.Recipe) -> tuple[str, ...]:
    """The ingredients switched on in ``s``."""
    return tuple(i for i in INGREDIENTS if getattr(s, i))


def training_key(s: profiles.Recipe) -> tuple[str, ...]:
    """What a training depends on: its ingredients other than the evaluation-only ones."""
    return tuple(i for i in ingredients(s) if i not in EVALUATION_ONLY)


def report_longer_settings(s: profiles.Recipe) -> profiles.CNN:
    """Chapter 7's settings (the report's), for ``report_longer_steps`` steps, evaluated on the
    whole test set every half of the report's 5,000 steps (so at 5,000 too)."""
    return profiles.make(profiles.CNN, profile=s.profile, train_size=s.train_size,
                         test_size=s.test_size, steps=s.report_longer_steps,
                         eval_every=report.CNN_STEPS // 2, seeds=s.ablation_seeds,
                         variants=("batch_norm",), eval_size=None)


def plan(s: profiles.Recipe) -> dict:
    """``{training: seeds}`` in the order of ``s.variants``: the trainings the configurations
    need (``report_longer``, or a :func:`training_key`); the full recipe's on ``s.seeds``, the
    others on ``s.ablation_seeds``."""
    trainings: dict = {}
    for name in s.variants:
        key = REPORT_LONGER if name == REPORT_LONGER else training_key(configuration(s, name))
        seeds = s.seeds if name == "full" else s.ablation_seeds
        trainings[key] = tuple(sorted(set(trainings.get(key, ())) | set(seeds)))
    return trainings


@results.recorded
def run(settings: profiles.Recipe, data, device, show_progress) -> tuple[list, dict]:
    """Train and record every configuration of ``settings.variants``.

    Each training runs once and gives every configuration that shares it (the evaluation-only
    ingredients); its runs are recorded under each configuration, as ``Run.variant``. The
    record is written after every training, so that a call cut short keeps what it finished;
    a training that would not end within ``time_budget_s`` (estimated from the trainings
    before it, per model and image) is skipped and named in ``info["skipped"]``.
    """
    device = torch.device(device)
    per_group = None if device.type == "cuda" else 1  # as chapter 7: on a CPU, one at a time
    runs, skipped, trainings, start = [], [], {}, time.perf_counter()
    seconds_per_image = None  # measured: seconds per model and training image
    with convnet._fast_kernels(device):
        for key, seeds in plan(settings).items():
            longer = key == REPORT_LONGER
            cnn = report_longer_settings(settings) if longer else None
            images = len(seeds) * (cnn.steps * cnn.batch_size if longer else
                                   settings.epochs * len(data.y_train))
            elapsed = time.perf_counter() - start
            if (settings.time_budget_s is not None and seconds_per_image is not None
                    and elapsed + images * seconds_per_image > settings.time_budget_s):
                skipped.append("+".join(key) if not longer else key)
                continue
            t0, done = time.perf_counter(), []
            n = len(seeds) if per_group is None else per_group
            for i in range(0, len(seeds), n):
                group = list(seeds[i:i + n])
                desc = f"{'+'.join(key) if not longer else key} seeds {group}"
                if longer:
                    done += convnet.train_convnets(data, cnn, group, device=device,
                                                   show_progress=show_progress, desc=desc)[0]
                else:
                    on = dataclasses.replace(settings, **{x: getattr(settings, x) if x in key
                                                          else OFF[x] for x in INGREDIENTS})
                    done += train_recipe(data, on, group, device, show_progress, desc)
            took = time.perf_counter() - t0
            seconds_per_image = took / images
            trainings["+".join(key) if not longer else key] = dict(
                seeds=list(seeds), wall_time=took, images=images)
            runs += _configuration_runs(settings, key, done)
            results.make_record(settings, "recipe", runs, device,  # kept if cut short
                                time.perf_counter() - start, data=data,
                                trainings=trainings, skipped=skipped,
                                complete=False)
    return runs, dict(trainings=trainings, skipped=skipped, complete=not skipped)


def _configuration_runs(s: profiles.Recipe, key, done: list[Run]) -> list[Run]:
    """The runs of one training, once for every configuration of ``s.variants`` it serves,
    with ``final["test_accuracy"]`` the configuration's own evaluation."""
    out = []
    for name in s.variants:
        if name == REPORT_LONGER or key == REPORT_LONGER:
            if name == key:
                out += [dataclasses.replace(r, variant=name, info=dict(r.info, metric="test_"
                                            "accuracy", ingredients=[])) for r in done]
            continue
        c = configuration(s, name)
        if training_key(c) != key:
            continue
        metric = metric_name(c.ema, c.tta)
        seeds = set(s.seeds if name == "full" else s.ablation_seeds)
        for r in done:
            if r.seed in seeds:
                final = dict(r.final, test_accuracy=r.final[metric])
                out.append(dataclasses.replace(r, final=final, variant=name, info=dict(
                    r.info, metric=metric, ingredients=list(ingredients(c)))))
    return out


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One configuration: its accuracy over seeds and its paired difference with a reference.

    ``versus`` names the reference: the full recipe for ``no_<ingredient>``, the path's
    previous step for ``path_<k>``, the same runs at the report's 5,000 steps for
    ``report_longer``; ``diff`` and ``ci`` (95%) are paired over their common seeds (``None``
    with fewer than two, or without a reference; ``ci`` ``None`` too where every seed gives
    the same difference, as a count of test images can)."""

    name: str
    what: str
    n: int
    mean: float
    se: float | None
    versus: str | None
    diff: float | None
    ci: tuple[float, float] | None
    seconds: float | None  # training time per model (grouped models share it equally)


def _by_seed(runs: list[Run], at: int | None = None) -> dict[int, float]:
    if at is None:
        return {r.seed: r.final["test_accuracy"] for r in runs}
    return {r.seed: r.at(at) for r in runs if r.at(at) is not None}


def _what(name: str) -> str:
    if name == "full":
        return "the full recipe: " + ", ".join(INGREDIENTS)
    if name == REPORT_LONGER:
        return "the report's settings (chapter 7), trained longer"
    if name.startswith("no_"):
        return f"the full recipe without {name[3:]}"
    k = int(name[5:])
    return "+ " + INGREDIENTS[k - 1] + (" (with all before it)" if k > 1 else "")


def table(record: Record) -> list[Row]:
    """The rows of a ``recipe`` record, in the order of its configurations, with the report's
    settings at 5,000 steps first (from the ``report_longer`` runs, when recorded)."""
    s: profiles.Recipe = record.settings
    names = [n for n in s.variants if record.select(variant=n)]
    runs = {n: record.select(variant=n) for n in names}
    acc = {n: _by_seed(r) for n, r in runs.items()}
    if REPORT_LONGER in runs:
        acc["report"] = _by_seed(runs[REPORT_LONGER], at=report.CNN_STEPS)
        if acc["report"]:
            names.insert(0, "report")
            runs["report"] = runs[REPORT_LONGER]

    def reference(name):
        if name.startswith("no_"):
            return "full"
        if name == REPORT_LONGER:
            return "report"
        if name.startswith("path_"):
            k = int(name[5:])
            return "report" if k == 1 else f"path_{k - 1}"
        return None

    rows = []
    for name in names:
        values = np.array(list(acc[name].values()))
        summary = stats.summarize(values)
        ref = reference(name)
        ref = ref if ref in acc else None
        diff = ci = None
        common = sorted(set(acc[name]) & set(acc[ref])) if ref else []
        if len(common) >= 2:
            a, b = [acc[name][k] for k in common], [acc[ref][k] for k in common]
            if np.ptp(np.subtract(a, b)) == 0:  # the same difference on every seed
                diff = float(np.mean(np.subtract(a, b)))
            else:
                d = stats.paired_test(a, b)
                diff, ci = d.diff, d.ci()
        seconds = np.mean([r.wall_time for r in runs[name]])
        if name == "report":
            seconds *= report.CNN_STEPS / s.report_longer_steps
        what = ("the report's settings (chapter 7): 5,000 steps" if name == "report"
                else _what(name))
        rows.append(Row(name, what, len(values), float(values.mean()),
                        summary.se if len(values) > 1 else None, ref if common else None,
                        diff, ci, float(seconds)))
    return rows


def format_table(rows: list[Row]) -> str:
    """The rows as fixed-width text: accuracy (mean ± standard error, %), the paired difference
    with its 95% interval (points), and the training time per model."""
    lines = [f"{'configuration':20s} {'seeds':>5s} {'accuracy %':>13s} {'vs':>10s} "
             f"{'difference [95% CI], points':>30s} {'s/model':>8s}"]
    for r in rows:
        se = f" ± {100 * r.se:.2f}" if r.se is not None else ""
        diff = "" if r.diff is None else f"{100 * r.diff:+.2f}" + (
            f" [{100 * r.ci[0]:+.2f}, {100 * r.ci[1]:+.2f}]" if r.ci else " (no spread)")
        lines.append(f"{r.name:20s} {r.n:5d} {100 * r.mean:6.2f}{se:7s} {r.versus or '':>10s} "
                     f"{diff:>30s} {r.seconds:8.1f}")
    return "\n".join(lines)
