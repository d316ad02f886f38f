"""How fast is the NumPy MLP? One training step beside the same MLP in PyTorch, and a whole run.

    python benchmarks/bench_mlp_step.py [--threads N] [--repeats 200] [--warmup 20]
                                        [--no-full-run]

1. One SGD step of the report's 3072-100-10 MLP (batch 200, float32): gather the batch,
   forward, cross-entropy, backward, update. NumPy: :func:`course_lib.numpy_mlp.train_step`;
   PyTorch: ``nn.Sequential(Linear, ReLU, Linear)`` with ``CrossEntropyLoss`` and
   ``optim.SGD``, with as many threads as NumPy's BLAS (``torch.set_num_threads``). The two
   are timed interleaved (NumPy, PyTorch, NumPy, ...) on the same batches after ``--warmup``
   untimed rounds; each gets its median, IQR, min-max and n, and each round the ratio
   NumPy time / PyTorch time.
2. The report-scale NumPy run (1,500 steps and 15 evaluations on the 10,000 test images),
   timed once by :func:`course_lib.numpy_mlp.train_numpy_mlp` (data loading excluded).

The ratio: below 1 NumPy's step is the faster, 1.2 means it takes 20% longer than PyTorch's.
Taken within a round, it is little moved by a neighbour that slows both; its median over
the rounds is checked against the goal, its IQR says how steady it was (a few rounds hit by
a neighbour show in min-max only). Goals: median ratio <= 1.2; the whole run < 6 s.

Measured on 2026-11-27 on this project's 2-core CPU machine (CPU model "AMD EPYC", KVM;
numpy 2.4.6 and torch 2.14.1, 2 threads each), ``python benchmarks/bench_mlp_step.py``:

* load average 1.24 before, 1.43 after: NumPy 3.18 ms (IQR 3.12-3.27, n=200), PyTorch
  4.85 ms (IQR 4.79-4.97); ratio per round 0.65 (IQR 0.62-0.67, min-max 0.03-3.60); whole
  run 2.91 s;
* with tests of other work running (load 2.95 before, 2.99 after): NumPy 3.45 ms (IQR
  3.31-20.4), PyTorch 4.85 ms (IQR 4.64-90.1); ratio 0.68 (IQR 0.26-0.74); whole run 6.48 s.

No other machine has been measured with this version.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads for NumPy and PyTorch (default: NumPy's own)")
    parser.add_argument("--repeats", type=int, default=200, help="timed steps per library")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    parser.add_argument("--no-full-run", action="store_true", help="skip the 1,500-step run")
    return parser.parse_args()


ARGS = parse_args()
if ARGS.threads is not None:  # must be set before NumPy's BLAS starts
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _timing import describe, interleave, pair_ratios, print_load_after, print_machine  # noqa: E402

from course_lib import profiles  # noqa: E402
from course_lib.data import load_cifar10  # noqa: E402
from course_lib.numpy_mlp import MLP, train_numpy_mlp, train_step  # noqa: E402
from course_lib.numpy_modules import CrossEntropyModule  # noqa: E402

N_TRAIN, N_IN, N_HIDDEN, N_CLASSES = 10_000, 3072, 100, 10  # a 10,000-image pool


def numpy_blas_threads() -> int | None:
    """The thread count of NumPy's OpenBLAS, read from the library itself."""
    import ctypes
    import glob

    libs = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*"))
    for path in libs:
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                     "openblas_get_num_threads"):
            if hasattr(lib, name):
                return int(getattr(lib, name)())
    return None


def main() -> None:
    threads = ARGS.threads or numpy_blas_threads() or os.cpu_count()
    torch.set_num_threads(threads)
    print_machine("cpu")
    print(f"NumPy BLAS threads {numpy_blas_threads()}")

    settings = profiles.settings("numpy_mlp", "paper")
    lr, batch = settings.learning_rate, settings.batch_size
    rng = np.random.default_rng(0)
    # Random data of CIFAR-10's size and scale: the time of a step does not depend on values.
    x_train = (60 * rng.standard_normal((N_TRAIN, N_IN))).astype(np.float32)
    y_train = rng.integers(0, N_CLASSES, N_TRAIN)
    targets_train = np.eye(N_CLASSES, dtype=np.float32)[y_train]
    batches = [rng.choice(N_TRAIN, batch, replace=False)
               for _ in range(ARGS.warmup + ARGS.repeats)]

    model = MLP(N_IN, list(settings.n_hidden), N_CLASSES, settings.init_std, seed=0)
    loss_fn = CrossEntropyModule()

    def numpy_step(idx):
        train_step(model, x_train[idx], targets_train[idx], lr, loss_fn)

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(N_IN, N_HIDDEN), torch.nn.ReLU(),
                              torch.nn.Linear(N_HIDDEN, N_CLASSES))
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    criterion = torch.nn.CrossEntropyLoss()
    x_torch, y_torch = torch.from_numpy(x_train), torch.from_numpy(y_train)
    idx_torch = [torch.from_numpy(idx) for idx in batches]

    def torch_step(idx):
        opt.zero_grad(set_to_none=True)
        loss = criterion(net(x_torch[idx]), y_torch[idx])
        loss.backward()
        opt.step()
        loss.item()

    times = interleave({"numpy": lambda i: numpy_step(batches[i]),
                        "torch": lambda i: torch_step(idx_torch[i])},
                       ARGS.repeats, ARGS.warmup)
    print(f"interleaved: numpy, torch, numpy, ... on the same batches "
          f"({ARGS.warmup} untimed rounds first)")
    for name, t in times.items():
        print(f"{name:6s} step: {describe(t, fmt='.3f')}")
    ratios = pair_ratios(times["numpy"], times["torch"])
    ratio = statistics.median(ratios)
    print(f"NumPy / PyTorch step time, per round: {describe(ratios, '', 1, '.2f')} "
          f"(goal <= 1.2: {'met' if ratio <= 1.2 else 'NOT met'})")

    if ARGS.no_full_run:
        print_load_after()
        return
    data = load_cifar10()
    run = train_numpy_mlp(data, settings, seed=0, show_progress=False)
    print(f"report-scale NumPy run (1,500 steps + {len(run.curves['eval']['step'])} test "
          f"evaluations): {run.wall_time:.2f} s (goal < 6 s: "
          f"{'met' if run.wall_time < 6 else 'NOT met'}); "
          f"final test accuracy {run.final['test_accuracy']:.4f} (one run, no spread)")
    print_load_after()


if __name__ == "__main__":
    sys.exit(main())
