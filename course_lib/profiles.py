"""Experiment profiles: one place that says how big every training run of the course is.

A profile is chosen with the environment variable ``COURSE_PROFILE``:

``paper``
    exactly the settings of the report (full steps, all seeds, the full grid);
``cpu``
    every experiment on the full data set, scaled down only where the paper's
    scale is out of reach on a 2-core CPU, so that the whole book builds in
    about 20 minutes; each chapter states every scale-down next to its result;
``smoke``
    seconds per chapter, on small subsets, for the tests;
``auto`` (the default)
    ``paper`` when a CUDA GPU is present, else ``cpu``.

Every chapter prints the profile it ran under (:func:`describe`).
"""

from __future__ import annotations

import copy
import os

ENV_VAR = "COURSE_PROFILE"
PROFILES = ("paper", "cpu", "smoke")


class ProfileError(ValueError):
    """An unknown profile or experiment name."""


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # the NumPy chapters do not need torch
        return False
    return torch.cuda.is_available()


def active_profile(name: str | None = None) -> str:
    """Resolve a profile name (``None`` reads ``$COURSE_PROFILE``, default ``auto``)."""
    if name is None:
        name = os.environ.get(ENV_VAR, "auto")
    name = name.strip().lower()
    if name == "auto":
        return "paper" if _cuda_available() else "cpu"
    if name not in PROFILES:
        raise ProfileError(
            f"unknown profile {name!r} (from {ENV_VAR}); "
            f"valid profiles: {', '.join(PROFILES)} or auto"
        )
    return name


def default_device() -> str:
    """``"cuda"`` when a CUDA GPU is present, else ``"cpu"``.

    Experiments run on the GPU when there is one.
    """
    return "cuda" if _cuda_available() else "cpu"


# Settings shared by every profile, then what each profile changes.
# ``train_size``/``test_size`` of ``None`` mean the full CIFAR-10 splits.
_COMMON = {
    # Report 1.2: 3072-100-10, batch 200, SGD lr 1e-3, 1,500 steps, N(0, 1e-4^2).
    "numpy_mlp": dict(
        n_hidden=[100], batch_size=200, learning_rate=1e-3, steps=1500,
        eval_every=100, train_avg=10, init_std=1e-4,
        seeds=[0, 1, 2, 3, 4], compare_learning_rates=[1e-3, 2e-3],
        train_size=None, test_size=None,
    ),
    # Report 2: the same model and settings in PyTorch, plus the init ablation.
    "torch_mlp": dict(
        n_hidden=[100], batch_size=200, learning_rate=1e-3, steps=1500,
        eval_every=100, train_avg=10, init_std=1e-4,
        seeds=[0, 1, 2, 3, 4], train_size=None, test_size=None,
    ),
    # Report 2, Table 1: 3 x 3 x 3 x 3 = 81 configurations, Adam, 4,000 steps.
    "mlp_grid": dict(
        first_hidden=[400, 600, 1000], second_hidden=400,
        weight_decay=[0.1, 0.01, 0.001], dropout=[0.1, 0.2, 0.5],
        learning_rate=[1e-3, 5e-4, 1e-4], batch_size=200, steps=4000,
        eval_every=100, validation_size=5000, seed=0,
        # Successive halving: list of (steps, configurations kept) rungs; None = every
        # configuration trained for ``steps``, as in the report.
        halving=None, train_size=None, test_size=None,
    ),
    # Report 2, Figure 2: the selected configuration retrained on all 50,000 images.
    "mlp_best": dict(batch_size=200, steps=4000, eval_every=100, train_avg=10, seed=0,
                     train_size=None, test_size=None),
    # Report 3: a small network trained with each BatchNorm implementation.
    "batchnorm_demo": dict(n_hidden=[256], batch_size=128, learning_rate=1e-3,
                           steps=600, eval_every=100, train_avg=10, seed=0,
                           train_size=None, test_size=None),
    # Report 4: VGG-style CNN, Adam lr 1e-4, batch 32, 5,000 steps, 10 seeds.
    "cnn": dict(
        steps=5000, batch_size=32, learning_rate=1e-4, eval_every=500, train_avg=10,
        seeds=list(range(10)), variants=["batch_norm", "no_batch_norm"],
        eval_size=None, train_size=None, test_size=None,
    ),
}

_OVERRIDES = {
    "paper": {},
    "cpu": {
        # The MLP experiments are cheap: full paper scale.
        # The grid: the same 81 points, affordable through successive halving.
        "mlp_grid": dict(halving=[(15, 81), (45, 27), (135, 9)], steps=135, eval_every=None),
        "mlp_best": dict(steps=1000),
        "cnn": dict(steps=600, seeds=[0, 1], eval_every=100, eval_size=1000),
    },
    "smoke": {
        "numpy_mlp": dict(steps=30, eval_every=10, seeds=[0, 1], train_size=2000, test_size=500),
        "torch_mlp": dict(steps=30, eval_every=10, seeds=[0, 1], train_size=2000, test_size=500),
        "mlp_grid": dict(first_hidden=[40, 60], second_hidden=40, weight_decay=[0.01],
                         dropout=[0.1, 0.5], learning_rate=[1e-3], steps=40, eval_every=20,
                         halving=[(20, 4), (40, 2)], validation_size=500,
                         train_size=2000, test_size=500),
        "mlp_best": dict(steps=40, eval_every=20, train_size=2000, test_size=500),
        "batchnorm_demo": dict(steps=30, eval_every=10, train_size=2000, test_size=500),
        "cnn": dict(steps=4, eval_every=2, seeds=[0, 1], batch_size=8, eval_size=64,
                    train_size=256, test_size=64),
    },
}

# Human-readable notes printed next to results: what each profile scaled down.
SCALE_NOTES = {
    "paper": {},
    "cpu": {
        "mlp_grid": "81 configurations by successive halving on CPU: all 81 for 15 steps, "
                    "the best 27 (on validation) to 45, the best 9 to 135 steps; validation "
                    "measured at each rung's end, test only at the end; the report trained "
                    "every configuration for 4,000 steps",
        "mlp_best": "1,000 steps instead of the report's 4,000",
        "cnn": "2 seeds x 600 steps per variant, evaluated every 100 steps on 1,000 fixed test "
               "images (final accuracy on all 10,000); the report used 10 seeds x 5,000 steps",
    },
    "smoke": {"*": "smoke test: a few steps on small subsets; the numbers mean nothing"},
}


def settings(experiment: str, profile: str | None = None) -> dict:
    """The settings of ``experiment`` under ``profile`` (``None``: the active profile)."""
    profile = active_profile(profile)
    if experiment not in _COMMON:
        raise ProfileError(f"unknown experiment {experiment!r}; known: {', '.join(_COMMON)}")
    out = copy.deepcopy(_COMMON[experiment])
    out.update(copy.deepcopy(_OVERRIDES[profile].get(experiment, {})))
    return out


def scale_note(experiment: str, profile: str | None = None) -> str:
    """What ``profile`` scaled down for ``experiment``, or that it ran at the report's scale."""
    profile = active_profile(profile)
    notes = SCALE_NOTES[profile]
    return notes.get(experiment) or notes.get("*") or "the report's full scale"


def describe(experiment: str | None = None, profile: str | None = None) -> str:
    """One line for a chapter to print: profile, device and, if given, the experiment's scale."""
    profile = active_profile(profile)
    line = f"profile: {profile} (set {ENV_VAR}=paper|cpu|smoke|auto), device: {default_device()}"
    if experiment is not None:
        line += f"; {experiment}: {scale_note(experiment, profile)}"
    return line
