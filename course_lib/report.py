"""Every number and configuration the report states, once, with the section that states it.

The course reproduces a student report on the UvA Deep Learning assignment 1 (2019). Its
settings are the ``paper`` profile's defaults (:mod:`course_lib.profiles`); its results are
what the chapters and the reproduction page compare with. Nothing else in the course writes
one of these numbers down. Accuracies are fractions.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stated:
    """A number as the report states it: value, where, and a spread over seeds if it gives one."""

    value: float
    where: str
    std: float | None = None
    seeds: int = 1  # how many runs the value summarises


# Section 1.2: the NumPy MLP, 3072-100-10, SGD, N(0, 1e-4^2) weights.
MLP_HIDDEN = (100,)
MLP_BATCH_SIZE = 200
MLP_LEARNING_RATE = 1e-3
MLP_STEPS = 1500
MLP_EVAL_EVERY = 100
MLP_INIT_STD = 1e-4
#: The assignment template's default learning rate, which the report changed to 1e-3.
TEMPLATE_LEARNING_RATE = 2e-3
NUMPY_FINAL = Stated(0.466, "report 1.2")
NUMPY_AT_1000 = Stated(0.488, "report 1.2")
NUMPY_PEAK_STEP = Stated(1000, "report 1.2")

# Section 2: the same MLP in PyTorch (default initialisation).
TORCH_FINAL = Stated(0.437, "report 2")

# Section 2, Table 1: the grid (MLP h1-400-10, Adam, dropout after the second layer).
GRID = dict(first_hidden=(400, 600, 1000), weight_decay=(0.1, 0.01, 0.001),
            dropout=(0.1, 0.2, 0.5), learning_rate=(1e-3, 5e-4, 1e-4))
GRID_SECOND_HIDDEN = 400
GRID_STEPS = 4000
#: Table 1's "best" configuration, selected on the test set, and its test accuracy.
GRID_BEST = dict(first_hidden=600, weight_decay=0.1, dropout=0.1, learning_rate=1e-4)
GRID_BEST_ACCURACY = Stated(0.542, "report 2")

# Section 4: the VGG-style CNN, Adam lr 1e-4, 5,000 steps, 10 seeds with BatchNorm and one
# run without. The report gives no batch size: 32 is the assignment template's default.
CNN_STEPS = 5000
CNN_LEARNING_RATE = 1e-4
CNN_SEEDS = 10
TEMPLATE_CNN_BATCH_SIZE = 32
CNN_MEAN = Stated(0.770, "report 4", std=0.006, seeds=10)
CNN_BEST = Stated(0.785, "report 4", seeds=10)
CNN_NO_BATCH_NORM = Stated(0.738, "report 4")
