"""How big every experiment is: its settings, one frozen dataclass per experiment, per profile.

A dataclass's defaults are the report's settings: the ``paper`` profile. The other profiles
change a few fields of it, and nothing else:

``paper``  exactly the report's settings (a GPU);
``cpu``    everything on the full data set, scaled down only where the paper's scale is out
           of reach on a 2-core CPU; the note printed beside a result lists every change;
``smoke``  seconds per chapter, on small subsets, for the tests; numbers mean nothing;
``auto``   (the default) ``paper`` when a CUDA GPU is present, else ``cpu``.

The profile is read from ``$COURSE_PROFILE`` once, by :func:`settings`; a runner takes the
settings object a chapter printed, so changing that object changes what runs. Profile names
are case-insensitive and spaces around them are ignored (``COURSE_PROFILE=CPU`` is ``cpu``);
any other name is refused with the list of valid ones. :data:`EXPERIMENTS` lists every
experiment with its chapter and runner.

Settings check themselves whenever they are made (by :func:`make`, by the dataclass, or by
``dataclasses.replace``): every field against :data:`RULES`, and the fields against each other
(a mini-batch fits in the training images, a grid's validation images leave some to train
on). Settings that would train nothing (``seeds=()``) or fail later with an error naming no
setting are a :class:`ProfileError` that names the setting, before any training.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass
from typing import ClassVar

from . import report

ENV_VAR = "COURSE_PROFILE"
PROFILES = ("paper", "cpu", "smoke")
#: CIFAR-10's training images: what ``train_size=None`` trains on.
CIFAR10_TRAIN_SIZE = 50_000
CNN_VARIANTS = ("batch_norm", "no_batch_norm")


class ProfileError(ValueError):
    """An unknown profile, experiment or setting, or a setting of the wrong type or value."""


def _whole(low: int):
    return lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= low


def _real(low: float, high: float = math.inf, low_open: bool = False):
    def test(v):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            return False
        try:
            finite = math.isfinite(v)
        except OverflowError:  # an int beyond the range of a float
            return False
        return finite and (v > low if low_open else v >= low) and v < high
    return test


_POSITIVE = ("a whole number of at least 1", _whole(1))

#: What each setting must be, by field name (a field means the same in every experiment):
#: ``(words, test)`` of one value. A field whose report default is a tuple holds a tuple of
#: such values (non-empty unless named in :data:`MAY_BE_EMPTY`); one annotated ``| None`` may
#: also be None.
RULES = {
    "profile": (f"one of {', '.join(PROFILES)}", lambda v: v in PROFILES),
    "train_size": _POSITIVE, "test_size": _POSITIVE, "eval_size": _POSITIVE,
    "validation_size": _POSITIVE, "steps": _POSITIVE, "batch_size": _POSITIVE,
    "eval_every": _POSITIVE, "train_avg": _POSITIVE, "n_hidden": _POSITIVE,
    "first_hidden": _POSITIVE, "second_hidden": _POSITIVE,
    "seed": ("a whole number of at least 0", _whole(0)),
    "seeds": ("a whole number of at least 0", _whole(0)),
    "learning_rate": ("a finite number above 0", _real(0, low_open=True)),
    "compare_learning_rates": ("a finite number above 0", _real(0, low_open=True)),
    "init_std": ("a finite number of at least 0", _real(0)),
    "weight_decay": ("a finite number of at least 0", _real(0)),
    "dropout": ("a probability in [0, 1)", _real(0, 1)),
    "variants": (f"one of {', '.join(CNN_VARIANTS)}", lambda v: v in CNN_VARIANTS),
    "halving": ("a rung (total steps, configurations kept) of two whole numbers of at least 1",
                lambda v: isinstance(v, tuple) and len(v) == 2 and all(map(_whole(1), v))),
    "epochs": _POSITIVE, "whiten_images": _POSITIVE, "report_longer_steps": _POSITIVE,
    "translate": ("a whole number of at least 0", _whole(0)),
    "ablation_seeds": ("a whole number of at least 0", _whole(0)),
    "momentum": ("a number in [0, 1)", _real(0, 1)),
    "warmup": ("a fraction in [0, 1)", _real(0, 1)),
    "label_smoothing": ("a number in [0, 1)", _real(0, 1)),
    "ema_decay": ("a number in [0, 1)", _real(0, 1)),
    "whiten_eps": ("a finite number above 0", _real(0, low_open=True)),
    "time_budget_s": ("a finite number above 0", _real(0, low_open=True)),
    **{flag: ("True or False", lambda v: isinstance(v, bool))
       for flag in ("nesterov", "augment", "whiten", "ema", "tta", "bf16")},
}
MAY_BE_EMPTY = {"n_hidden", "compare_learning_rates"}  # softmax regression; no comparison


def _check_field(cls: type, f: dataclasses.Field, value) -> None:
    if value is None and "None" in str(f.type):
        return
    rule = getattr(cls, "RULES", {}).get(f.name) or RULES.get(f.name)
    if rule is None:
        raise ProfileError(f"{cls.__name__} setting {f.name} has no rule in profiles.RULES: "
                           "add one (CONTRIBUTING.md, step 2)")
    words, test = rule
    if isinstance(f.default, tuple) or f.name == "halving":  # a tuple of such values
        empty = f.name in MAY_BE_EMPTY
        words = f"a {'possibly empty' if empty else 'non-empty'} tuple, each item {words}"
        ok = isinstance(value, tuple) and (bool(value) or empty) and all(map(test, value))
    else:
        ok = test(value)
    if "None" in str(f.type):
        words += ", or None"
    if not ok:
        why = " (no seeds: no run would be trained)" if f.name == "seeds" and value == () else ""
        raise ProfileError(f"{cls.__name__} setting {f.name}={value!r}: must be {words}{why}")
    if f.name.endswith("seeds") and len(set(value)) < len(value):
        raise ProfileError(f"{cls.__name__} setting {f.name}={value!r}: a seed repeats (a repeated "
                           "seed is the same run twice, not another sample)")


#: The recipe's ingredients in the order of its cumulative path (``course_lib.recipe``), and
#: the name of its configuration that trains the report's own network for longer.
RECIPE_INGREDIENTS = ("nesterov", "augment", "label_smoothing", "whiten", "ema", "tta")
REPORT_LONGER = "report_longer"


@dataclass(frozen=True)
class Settings:
    """What every experiment has: its profile, and the sizes of the data it sees (None: all)."""

    profile: str = "paper"
    train_size: int | None = None
    test_size: int | None = None

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ProfileError`, naming the setting, unless every field is of its kind
        (:data:`RULES`) and the fields fit together."""
        cls = type(self)
        for f in dataclasses.fields(self):
            _check_field(cls, f, getattr(self, f.name))
        name = cls.__name__
        train = CIFAR10_TRAIN_SIZE if self.train_size is None else self.train_size
        what = f"train_size {self.train_size}" if self.train_size else \
            f"CIFAR-10's {CIFAR10_TRAIN_SIZE:,} training images"
        if (validation := getattr(self, "validation_size", None)) is not None:
            if validation >= train:
                raise ProfileError(f"{name} setting validation_size={validation} must be below "
                                   f"{what}: the grid trains on the images it does not hold out")
            train -= validation
            what += f" minus validation_size {validation}"
        if (batch := getattr(self, "batch_size", None)) is not None and batch > train:
            raise ProfileError(f"{name} setting batch_size={batch} is more than the {train:,} "
                               f"training images ({what}): a mini-batch must fit in them; "
                               "lower batch_size or raise train_size")


@dataclass(frozen=True)
class TorchMLP(Settings):
    """Section 2: section 1.2's MLP and settings, trained in PyTorch (and the ablation)."""

    n_hidden: tuple = report.MLP_HIDDEN
    batch_size: int = report.MLP_BATCH_SIZE
    learning_rate: float = report.MLP_LEARNING_RATE
    steps: int = report.MLP_STEPS
    eval_every: int = report.MLP_EVAL_EVERY
    train_avg: int = 10
    init_std: float = report.MLP_INIT_STD
    seeds: tuple = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class NumpyMLP(TorchMLP):
    """Section 1.2: the same settings in NumPy, and a comparison of learning rates."""

    compare_learning_rates: tuple = (report.MLP_LEARNING_RATE, report.TEMPLATE_LEARNING_RATE)


@dataclass(frozen=True)
class MLPGrid(Settings):
    first_hidden: tuple = report.GRID["first_hidden"]
    second_hidden: int = report.GRID_SECOND_HIDDEN
    weight_decay: tuple = report.GRID["weight_decay"]
    dropout: tuple = report.GRID["dropout"]
    learning_rate: tuple = report.GRID["learning_rate"]
    batch_size: int = report.MLP_BATCH_SIZE
    steps: int = report.GRID_STEPS
    eval_every: int | None = 100
    validation_size: int = 5000
    seed: int = 0
    #: Successive halving: rungs (total steps, configurations kept); None trains every
    #: configuration for ``steps``, as the report did.
    halving: tuple | None = None


@dataclass(frozen=True)
class MLPBest(Settings):
    second_hidden: int = report.GRID_SECOND_HIDDEN
    batch_size: int = report.MLP_BATCH_SIZE
    steps: int = report.GRID_STEPS
    eval_every: int = 100
    train_avg: int = 10
    seed: int = 0


@dataclass(frozen=True)
class BatchNormDemo(Settings):
    n_hidden: tuple = (256,)
    batch_size: int = 128
    learning_rate: float = 1e-3
    steps: int = 600
    eval_every: int = 100
    train_avg: int = 10
    seed: int = 0


@dataclass(frozen=True)
class CNN(Settings):
    steps: int = report.CNN_STEPS
    batch_size: int = report.TEMPLATE_CNN_BATCH_SIZE
    learning_rate: float = report.CNN_LEARNING_RATE
    eval_every: int = 500
    train_avg: int = 10
    seeds: tuple = tuple(range(report.CNN_SEEDS))
    variants: tuple = ("batch_norm", "no_batch_norm")
    #: Fixed test images for the evaluations before the last (None: all); the last uses all.
    eval_size: int | None = None


@dataclass(frozen=True)
class Recipe(Settings):
    """The report's ConvNet trained with today's recipe (chapter "What the report could have
    done"); each flag switches one ingredient (``course_lib.recipe.INGREDIENTS``), so the
    leave-one-out ablation and the cumulative path are these settings with flags turned off.
    Unlike the other experiments, the defaults are not the report's settings: the ``paper``
    profile is the recipe at full scale, sized for one 8-minute call on one H200
    (``scripts/recipe_gpu.sh`` says how)."""

    #: A recipe's variants are its configurations, not the CNN's (see ``variants`` below).
    RULES: ClassVar[dict] = {"variants": (
        f"one of full, {REPORT_LONGER}, no_<ingredient>, path_<0..{len(RECIPE_INGREDIENTS)}> "
        f"(ingredients: {', '.join(RECIPE_INGREDIENTS)})",
        lambda v: v in ("full", REPORT_LONGER, *(f"no_{i}" for i in RECIPE_INGREDIENTS),
                        *(f"path_{k}" for k in range(len(RECIPE_INGREDIENTS) + 1))))}

    epochs: int = 8
    batch_size: int = 512
    # Ingredients that change accuracy (off: the report's Adam 1e-4 at a constant rate, no
    # augmentation, plain cross-entropy, the raw input, the last weights, one view per image).
    nesterov: bool = True  # SGD with Nesterov momentum, warm-up and linear decay
    learning_rate: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup: float = 0.2  # fraction of the steps
    augment: bool = True  # random flip and translation
    translate: int = 2  # pixels
    label_smoothing: float = 0.2  # 0: off
    whiten: bool = True  # frozen 3x3 patch-whitening first convolution
    whiten_eps: float = 5e-4  # times the mean eigenvalue
    whiten_images: int = 5000
    ema: bool = True  # evaluate an exponential moving average of the weights
    ema_decay: float = 0.98  # per step
    tta: bool = True  # test-time augmentation: the mean logits of the image and its mirror
    # Speed only (the same arithmetic up to rounding): bf16 autocast; channels_last and the
    # data held on the device are always on.
    bf16: bool = True
    seeds: tuple = (0, 1, 2, 3, 4)  # the full recipe
    ablation_seeds: tuple = (0, 1, 2)  # every other configuration: the first seeds, paired
    #: Configurations (course_lib.recipe.configuration): "full", "no_<ingredient>",
    #: "path_<k>" (the first k ingredients), "report_longer" (chapter 7's run, longer).
    variants: tuple = ("full", "report_longer", "no_nesterov", "no_augment",
                       "no_label_smoothing", "no_whiten", "no_ema", "no_tta",
                       "path_1", "path_2", "path_3", "path_4", "path_5")
    report_longer_steps: int = 12500  # chapter 7's settings: 5,000 steps (3.2 epochs)
    eval_size: int | None = 2000  # test images for the evaluations before the last
    time_budget_s: float | None = 330.0  # skip the configurations that would not fit


@dataclass(frozen=True)
class Experiment:
    name: str
    settings: type
    chapter: str
    runner: str  # "module:function", imported only when run (NumPy chapters need no torch)
    needs: tuple = ()  # experiments whose records the runner takes after the data

    def run(self, *args, **kwargs):
        import importlib

        module, function = self.runner.split(":")
        return getattr(importlib.import_module(f"course_lib.{module}"), function)(*args, **kwargs)


#: Every experiment of the course, in the book's order.
EXPERIMENTS = {e.name: e for e in (
    Experiment("numpy_mlp", NumpyMLP, "03_numpy_mlp", "numpy_mlp:run"),
    Experiment("torch_mlp", TorchMLP, "04_pytorch_mlp", "torch_mlp:run"),
    Experiment("mlp_grid", MLPGrid, "04_pytorch_mlp", "mlp_grid:run"),
    Experiment("mlp_best", MLPBest, "04_pytorch_mlp", "mlp_grid:run_best", ("mlp_grid",)),
    Experiment("batchnorm_demo", BatchNormDemo, "05_batchnorm", "torch_mlp:run_batchnorm_demo"),
    Experiment("cnn", CNN, "07_cnn", "convnet:run"),
    Experiment("recipe", Recipe, "08_recipe", "recipe:run"),
)}

#: What each profile changes in the report's settings.
OVERRIDES = {
    "paper": {},
    "cpu": {
        "mlp_grid": dict(halving=((15, 81), (45, 27), (135, 9)), steps=135, eval_every=None),
        "mlp_best": dict(steps=1000),
        "cnn": dict(steps=600, seeds=(0, 1), eval_every=100, eval_size=1000),
        "recipe": dict(epochs=1, batch_size=32, seeds=(0, 1), ablation_seeds=(0, 1),
                       variants=("full", "no_ema", "no_tta", "path_4"), whiten_images=256,
                       bf16=False, train_size=256, test_size=64, eval_size=None,
                       time_budget_s=None),
    },
    "smoke": {
        "numpy_mlp": dict(steps=30, eval_every=10, seeds=(0, 1), train_size=2000, test_size=500),
        "torch_mlp": dict(steps=30, eval_every=10, seeds=(0, 1), train_size=2000, test_size=500),
        "mlp_grid": dict(first_hidden=(40, 60), second_hidden=40, weight_decay=(0.01,),
                         dropout=(0.1, 0.5), learning_rate=(1e-3,), steps=40, eval_every=20,
                         halving=((20, 4), (40, 2)), validation_size=500,
                         train_size=2000, test_size=500),
        "mlp_best": dict(second_hidden=40, steps=40, eval_every=20, train_size=2000,
                         test_size=500),
        "batchnorm_demo": dict(steps=30, eval_every=10, train_size=2000, test_size=500),
        "cnn": dict(steps=4, eval_every=2, seeds=(0, 1), batch_size=8, eval_size=64,
                    train_size=256, test_size=64),
        "recipe": dict(epochs=1, batch_size=8, seeds=(0, 1), ablation_seeds=(0, 1),
                       report_longer_steps=2, whiten_images=32, train_size=32, test_size=16,
                       eval_size=8, time_budget_s=None),
    },
}


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # the NumPy chapters do not need torch
        return False
    return torch.cuda.is_available()


def active_profile(name: str | None = None) -> str:
    """Resolve a profile name (``None`` reads ``$COURSE_PROFILE``; unset means ``auto``)."""
    if name is None:
        name = os.environ.get(ENV_VAR)
        if name is not None and not name.strip():
            raise ProfileError(f"{ENV_VAR} is set but empty; unset it or give one of "
                               f"{', '.join(PROFILES)}, auto")
        name = name or "auto"
    given, name = name, name.strip().lower()  # case-insensitive: CPU is cpu
    if name == "auto":
        return "paper" if _cuda_available() else "cpu"
    if name not in PROFILES:
        raise ProfileError(f"unknown profile {given!r} (from {ENV_VAR}); valid profiles "
                           f"(case-insensitive): {', '.join(PROFILES)} or auto")
    return name


def default_device() -> str:
    """``"cuda"`` when a CUDA GPU is present, else ``"cpu"``."""
    return "cuda" if _cuda_available() else "cpu"


def experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ProfileError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def make(cls: type, **fields) -> Settings:
    """``cls(**fields)``, with an error naming the valid fields when one is unknown."""
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(fields) - set(valid))
    if unknown:
        raise ProfileError(f"{cls.__name__} has no setting {', '.join(map(repr, unknown))}; "
                           f"valid: {', '.join(valid)}")
    return cls(**{k: tuple(map(_tuple, v)) if isinstance(v, list) else v
                  for k, v in fields.items()})


def _tuple(v):
    return tuple(_tuple(x) for x in v) if isinstance(v, list) else v


def settings(name: str, profile: str | None = None) -> Settings:
    """The settings of experiment ``name`` under ``profile`` (``None``: the active profile)."""
    profile = active_profile(profile)
    return make(experiment(name).settings, profile=profile, **OVERRIDES[profile].get(name, {}))


def changes(s: Settings) -> dict[str, tuple]:
    """``{field: (value, paper value)}`` for every field of ``s`` that differs from the report's."""
    paper = type(s)()
    return {f.name: (getattr(s, f.name), getattr(paper, f.name))
            for f in dataclasses.fields(s)
            if f.name != "profile" and getattr(s, f.name) != getattr(paper, f.name)}


def full_scale(s: Settings) -> bool:
    """Whether ``s`` are the report's settings (whatever profile they came from)."""
    return not changes(s)


def _show(value, name: str = "") -> str:
    if value is None:
        return "all" if name.endswith("_size") else "none"
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return f"{value:,}" if isinstance(value, int) else f"{value:g}" \
        if isinstance(value, float) else str(value)


def scale_note(s: Settings) -> str:
    """What ``s`` change in the report's settings, derived from the fields themselves."""
    diff = changes(s)
    if not diff:
        return "the report's full scale"
    text = "; ".join(f"{k} {_show(v, k)} (paper: {_show(p, k)})" for k, (v, p) in diff.items())
    return ("smoke test, the numbers mean nothing: " if s.profile == "smoke" else "") + text


def describe(s: Settings | None = None) -> str:
    """One line for a chapter to print: profile, device and, if given, the settings' scale."""
    profile = active_profile() if s is None else s.profile
    line = (f"profile: {profile} (set {ENV_VAR}=paper|cpu|smoke|auto, any case), "
            f"device: {default_device()}")
    if s is not None:
        line += f"; {type(s).__name__}: {scale_note(s)}"
    return line
