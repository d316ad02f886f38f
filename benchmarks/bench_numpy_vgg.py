"""How long does the whole VGG network by hand take? NumPy forward+backward beside PyTorch's.

    python benchmarks/bench_numpy_vgg.py [--batch 32] [--rounds 10] [--warmup 2]
                                         [--dtype float64|float32|both]

Both sides compute the same thing from the same weights (``convnet.init_convnet(0)``) on the
same random stand-in batch (the values do not change the cost): the loss of the ConvNet in
training mode (BatchNorm with batch statistics) and the gradient of every parameter, i.e.
one forward and one backward pass of a training step without the optimiser.

* NumPy: :class:`course_lib.numpy_convnet.NumpyConvNet` with
  :func:`~course_lib.numpy_convnet.loss_and_gradient` (the chapter "Layers by hand");
* PyTorch: the ``nn.Module`` with autograd, NCHW, eager, on the CPU.

Timed interleaved (NumPy, PyTorch, NumPy, ...) after ``--warmup`` untimed rounds. Prints the
machine, each side's time (median, IQR, min-max, n) and the ratio NumPy / PyTorch of each
round (above 1: NumPy is slower). NumPy's matrix products use the BLAS that NumPy was built
with (OpenBLAS here), PyTorch's convolutions oneDNN in float32 and its own slower native kernels
in float64; both use every core unless told otherwise:
``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1`` before the command gives
both one thread, which on a shared, busy machine measures the code rather than the contention.

Measured on 2026-11-27 on this project's 2-core CPU machine (CPU model "AMD EPYC", KVM;
torch 2.14.1, numpy 2.4.6), batch 32, with other work running on the machine:

* ``python benchmarks/bench_numpy_vgg.py`` (2 threads each), load average 3.24 before, 3.95
  after. float64: NumPy 2187 ms (IQR 2155-2300, n=10), PyTorch 4234 ms (IQR 4221-4255);
  NumPy / PyTorch per round 0.52 (IQR 0.51-0.54). float32: NumPy 1659 ms (IQR 1647-1675),
  PyTorch 1469 ms (IQR 1460-1476); ratio 1.13 (IQR 1.12-1.14). PyTorch's float32 step was
  13 times slower than bench_cnn.py's 110 ms (forward, backward and Adam) on a quiet machine:
  most likely two threads per process on two busy cores waiting for each other.
* the same with one thread each (the environment variables above), ``--rounds 6``, load
  3.68 before, 3.45 after. float64: NumPy 763 ms (IQR 757-776, n=6), PyTorch 1532 ms (IQR
  1520-1545); ratio 0.50 (IQR 0.49-0.50). float32: NumPy 424 ms (IQR 424-427), PyTorch 185 ms
  (IQR 183-190); ratio 2.31 (IQR 2.27-2.32).

In float64 the NumPy network takes half of PyTorch's time; in float32 PyTorch's oneDNN
convolutions are about twice as fast as im2col and a matrix product. No quiet machine and no
other machine has been measured.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from _timing import describe, interleave, pair_ratios, print_load_after, print_machine

from course_lib.convnet import init_convnet
from course_lib.numpy_convnet import NumpyConvNet, loss_and_gradient

DTYPES = {"float64": (np.float64, torch.float64), "float32": (np.float32, torch.float32)}


def make_pair(batch: int, dtype: str):
    """The two forward+backward steps, NumPy and PyTorch, on one batch in ``dtype``."""
    np_dtype, torch_dtype = DTYPES[dtype]
    model = init_convnet(0).to(torch_dtype).train()
    net = NumpyConvNet.from_torch(model, dtype=np_dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np_dtype)
    y = rng.integers(0, 10, batch)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def numpy_step(_round: int) -> None:
        loss_and_gradient(net, x, y)

    def torch_step(_round: int) -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(xt), yt).backward()

    return numpy_step, torch_step


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=10, help="timed rounds (NumPy + PyTorch)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    ap.add_argument("--dtype", choices=["float64", "float32", "both"], default="both")
    args = ap.parse_args()
    print_machine("cpu")
    for dtype in (["float64", "float32"] if args.dtype == "both" else [args.dtype]):
        numpy_step, torch_step = make_pair(args.batch, dtype)
        times = interleave({"numpy": numpy_step, "torch": torch_step}, args.rounds,
                           args.warmup)
        print(f"{dtype}, batch {args.batch}, forward + backward of the whole network "
              f"(interleaved, {args.warmup} untimed rounds first):")
        print(f"  NumPy:   {describe(times['numpy'])}")
        print(f"  PyTorch: {describe(times['torch'])}")
        ratios = pair_ratios(times["numpy"], times["torch"])
        print(f"  NumPy / PyTorch, per round: {describe(ratios, '', 1, '.2f')}")
    print_load_after()


if __name__ == "__main__":
    main()
