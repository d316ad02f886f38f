"""How fast is the NumPy MLP? One training step beside the same MLP in PyTorch, and a whole run.

    python benchmarks/bench_mlp_step.py [--threads N] [--repeats 200] [--no-full-run]

1. One SGD step of the report's 3072-100-10 MLP (batch 200, float32): gather the batch,
   forward, cross-entropy, backward, update. NumPy: :func:`course_lib.numpy_mlp.train_step`;
   PyTorch: ``nn.Sequential(Linear, ReLU, Linear)`` with ``CrossEntropyLoss`` and
   ``optim.SGD``, with as many threads as NumPy's BLAS (``torch.set_num_threads``). The two
   are timed interleaved, step by step, on the same batches, and the medians are compared.
2. The report-scale NumPy run (1,500 steps and 15 evaluations on the 10,000 test images),
   timed by :func:`course_lib.numpy_mlp.train_numpy_mlp` (data loading excluded).

Goals: NumPy step <= 1.2 x PyTorch step; the whole run < 6 s. Timings on a shared machine
are noisy: report the machine, its load and the thread count with the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


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
    print(f"numpy {np.__version__} (BLAS threads {numpy_blas_threads()}), "
          f"torch {torch.__version__} (threads {torch.get_num_threads()}), "
          f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")

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

    times = {"numpy": [], "torch": []}
    for i in range(ARGS.warmup + ARGS.repeats):  # interleaved: both see the same load
        for name, step, idx in (("numpy", numpy_step, batches[i]),
                                ("torch", torch_step, idx_torch[i])):
            start = time.perf_counter()
            step(idx)
            if i >= ARGS.warmup:
                times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    q = {k: np.percentile(v, [25, 75]) for k, v in times.items()}
    for k in med:
        print(f"{k:6s} step: median {1e3 * med[k]:.3f} ms "
              f"(IQR {1e3 * q[k][0]:.3f}-{1e3 * q[k][1]:.3f} ms, {ARGS.repeats} steps)")
    ratio = med["numpy"] / med["torch"]
    print(f"NumPy / PyTorch step time: {ratio:.2f} (goal <= 1.2: "
          f"{'met' if ratio <= 1.2 else 'NOT met'})")

    if ARGS.no_full_run:
        return
    data = load_cifar10()
    run = train_numpy_mlp(data, settings, seed=0, show_progress=False)
    print(f"report-scale NumPy run (1,500 steps + {len(run.curves['eval']['step'])} test "
          f"evaluations): {run.wall_time:.2f} s (goal < 6 s: "
          f"{'met' if run.wall_time < 6 else 'NOT met'}); "
          f"final test accuracy {run.final['test_accuracy']:.4f}")


if __name__ == "__main__":
    sys.exit(main())
