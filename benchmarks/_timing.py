"""Shared by the benchmarks: the machine they ran on, interleaved timing, medians with spread.

* :func:`print_machine` before the results (CPU model, logical cores, torch threads, versions,
  device, load average) and :func:`print_load_after` after them;
* :func:`interleave` times the things compared in turn, A, B, A, B, ..., after untimed
  warm-up rounds, so that a busy moment or a change of clock speed falls on both, not on
  one (not always alike: competing for the cores slows many short parallel operations
  more than one long one);
* :func:`describe` gives a sample's median, interquartile range, min-max and size, and
  :func:`pair_ratios` the ratio within each interleaved round (report its median and IQR,
  not the ratio of two medians).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch


def cpu_model() -> str:
    """The CPU's 'model name' from /proc/cpuinfo, else what :mod:`platform` says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def load_average() -> str:
    return "{:.2f} {:.2f} {:.2f} (1, 5, 15 min)".format(*os.getloadavg())


def print_machine(device: torch.device | str = "cpu") -> None:
    """Print the machine; call it after setting the thread count."""
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical cores, "
          f"torch threads {torch.get_num_threads()}, device {name}")
    print(f"versions: python {platform.python_version()}, torch {torch.__version__}, "
          f"numpy {np.__version__}")
    print(f"load average before: {load_average()}")


def print_load_after() -> None:
    print(f"load average after:  {load_average()}")


def device_sync(device: torch.device) -> Callable[[], object]:
    """What to call before each clock read: wait for the GPU on CUDA, nothing on a CPU."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def interleave(steps: dict[str, Callable[[int], object]], rounds: int, warmup: int,
               sync: Callable[[], object] = lambda: None) -> dict[str, list[float]]:
    """Seconds of each of ``steps``: round ``i`` calls every ``step(i)`` once, in order, each
    timed alone (``sync()`` before each clock read, e.g. ``torch.cuda.synchronize``). The
    first ``warmup`` rounds are run but not kept; ``rounds`` are kept."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(warmup + rounds):
        for name, step in steps.items():
            sync()
            start = time.perf_counter()
            step(i)
            sync()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    """First quartile, median, third quartile."""
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    q1, med, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return q1, med, q3


def describe(xs: list[float], unit: str = "ms", scale: float = 1e3, fmt: str = ".1f") -> str:
    """'median M unit (IQR a-b, min-max c-d, n=N)' of ``scale * xs``."""
    q1, med, q3 = (scale * v for v in quartiles(xs))
    lo, hi = scale * min(xs), scale * max(xs)
    unit = f" {unit}" if unit else ""
    return (f"median {med:{fmt}}{unit} (IQR {q1:{fmt}}-{q3:{fmt}}, "
            f"min-max {lo:{fmt}}-{hi:{fmt}}, n={len(xs)})")


def pair_ratios(a: list[float], b: list[float]) -> list[float]:
    """``a[i] / b[i]`` for each interleaved round ``i``."""
    return [x / y for x, y in zip(a, b, strict=True)]
