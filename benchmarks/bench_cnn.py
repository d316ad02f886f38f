"""How close does one training step of the chapter-6 ConvNet come to a large matrix product?

Counts the FLOPs of a training step analytically from the layer shapes (3x3 convolutions
and the final linear layer; BatchNorm, ReLU and pooling are memory-bound and not counted):
a layer with ``M`` multiply-adds per image costs ``2M`` FLOPs forward, and backward ``2M``
for the weight gradient plus ``2M`` for the input gradient (not needed for ``conv1``, whose
input is the data). Then times, on one device and interleaved (step, matmul, step, matmul,
..., after ``--warmup`` untimed rounds), ``--steps`` training steps (forward, backward,
Adam; fp32, eager, batch ``--batch``) and as many ``n x n`` by ``n x n`` fp32 products
(``--matmul n``). Prints the machine, each one's time and GFLOP/s (median, IQR, min-max, n)
and the ratio step GFLOP/s / matmul GFLOP/s of each round.

    python benchmarks/bench_cnn.py [--device cpu|cuda] [--batch 32] [--steps 20] [--warmup 3]
                                   [--matmul 2048] [--compare]

``--compare`` instead times, interleaved, the step in NCHW against channels_last, and the
evaluation of 1,000 images with BatchNorm folded into the convolutions against without.

The ratio is the share of a plain large matrix product's rate, on the same device at the
same moment, that the step reaches on its counted FLOPs. Near 1: the convolutions run as
fast as the matmul and little time goes elsewhere (the uncounted layers, Adam, per-operation
overhead); near 0.5: the step gets half the matmul's rate, as if half its time did no
counted work. The matmul is a reference, not the machine's peak: above 1 means the
convolution kernels (oneDNN on a CPU, cuDNN on a GPU) get more from the machine than torch's
matmul does, or do fewer multiplications than counted (e.g. Winograd). A slowdown that hits
both alike (a lower clock) divides out; competition for the cores does not: it hits the
step's many short parallel operations far harder than one long matmul (below). Trust a run
whose load average stays well under the core count and whose IQR is narrow, and compare
ratios only between runs on one machine.

Measured on 2026-11-27 on this project's 2-core CPU machine (CPU model "AMD EPYC", family
26, AVX-512, under KVM; torch 2.14.1, whose matmul is MKL's; 2 threads), ``python
benchmarks/bench_cnn.py``:

* load average 1.01 before, 1.24 after: step 110.6 ms (IQR 105.0-115.1, n=20) = 264 GFLOP/s;
  matmul 2048^3 82.4 ms (IQR 81.1-84.0) = 209 GFLOP/s; ratio per round 1.30 (IQR 1.21-1.35;
  min 0.15, in rounds hit by a neighbour: the slowest step took 1.3 s);
* minutes later, with tests of other work running (load 1.71 before, 2.95 after): step
  999 ms (IQR 563-1735) = 29 GFLOP/s; matmul 179.5 ms (IQR 174.6-184.5) = 96 GFLOP/s; ratio
  0.31 (IQR 0.18-0.50): not a property of the step, a busy machine.

No other machine has been measured with this version.
"""

from __future__ import annotations

import argparse

import torch
from _timing import describe, device_sync, interleave, pair_ratios, print_load_after, print_machine

from course_lib.convnet import ARCHITECTURE, ConvNet, adam, evaluate, grouped_loss


def layer_macs(n_classes: int = 10, size: int = 32) -> list[tuple[str, int]]:
    """Multiply-adds per image of every conv (3x3, 'same') and of the linear layer."""
    out = []
    for name, c_in, c_out in ARCHITECTURE:
        if c_in is None:
            size = (size + 2 - 3) // 2 + 1  # max-pool 3x3, stride 2, padding 1
        else:
            out.append((name, size * size * c_in * c_out * 9))
    return out + [("linear", 512 * n_classes)]


def step_flops(batch: int) -> tuple[float, float]:
    """(forward, forward + backward) FLOPs of one training step on ``batch`` images."""
    macs = layer_macs()
    forward = 2 * sum(m for _, m in macs) * batch
    backward = 2 * forward - 2 * macs[0][1] * batch  # no input gradient for conv1
    return forward, forward + backward


def make_step(batch: int, device, fmt=torch.contiguous_format):
    """One training step of the single ConvNet (forward, backward, Adam as in training)."""
    torch.manual_seed(0)
    model = ConvNet(3, 10).to(device, memory_format=fmt).train()
    optimizer = adam(model.parameters(), lr=1e-4)  # fused where available, as in training
    x = (60 * torch.randn(batch, 3, 32, 32, device=device)).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch, 1), device=device)

    def step(_round: int) -> None:
        loss, _ = grouped_loss(model(x).view(batch, 1, -1), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def make_eval(n: int, device, fold: bool):
    """Evaluation of ``n`` images as training evaluates (BatchNorm folded in, or not)."""
    torch.manual_seed(0)
    model = ConvNet(3, 10).to(device).train()
    model(60 * torch.randn(64, 3, 32, 32, device=device))  # running statistics that are not 0, 1
    x = 60 * torch.randn(n, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (n,), device=device)
    return lambda _round: evaluate(model, x, y, fold=fold)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20, help="timed rounds (step + matmul)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    ap.add_argument("--matmul", type=int, default=2048, help="matrix size n of the n^3 product")
    ap.add_argument("--compare", action="store_true",
                    help="instead: the step in NCHW vs channels_last, and evaluating 1,000 "
                         "images with BatchNorm folded into the convolutions vs not")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":  # plain fp32 on the GPU too, no TF32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    print_machine(device)
    for name, m in layer_macs():
        print(f"  {name:8s} {m / 1e6:8.2f} M multiply-adds per image")
    forward, total = step_flops(args.batch)
    print(f"training step, batch {args.batch}: {forward / 1e9:.2f} GFLOP forward, "
          f"{total / 1e9:.2f} GFLOP forward + backward")

    if args.compare:
        compare(args, device)
        return
    n = args.matmul
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    steps = {"step": make_step(args.batch, device), "matmul": lambda _round: a @ b}
    times = interleave(steps, args.steps, args.warmup, device_sync(device))
    step_rate = [total / t for t in times["step"]]
    mm_rate = [2 * n ** 3 / t for t in times["matmul"]]
    print(f"interleaved: step, matmul, step, ... ({args.warmup} untimed rounds first)")
    print(f"ConvNet training step: {describe(times['step'])}")
    print(f"  = {describe(step_rate, 'GFLOP/s', 1e-9)}")
    print(f"matmul {n}^3 fp32: {describe(times['matmul'])}")
    print(f"  = {describe(mm_rate, 'GFLOP/s', 1e-9)}")
    ratios = pair_ratios(step_rate, mm_rate)
    print(f"step GFLOP/s / matmul GFLOP/s, per round: {describe(ratios, '', 1, '.2f')}")
    print_load_after()


def compare(args, device):
    """Two interleaved side-by-side measurements: memory format, and BatchNorm folding."""
    sync = device_sync(device)
    pairs = {"memory format (training step)": (
                 ("NCHW", make_step(args.batch, device)),
                 ("channels_last", make_step(args.batch, device, torch.channels_last))),
             "BatchNorm at evaluation (1,000 images)": (
                 ("as trained", make_eval(1000, device, fold=False)),
                 ("folded", make_eval(1000, device, fold=True)))}
    for what, ((name_a, a), (name_b, b)) in pairs.items():
        times = interleave({name_a: a, name_b: b}, args.steps, args.warmup, sync)
        print(f"{what}, interleaved:")
        for name in (name_a, name_b):
            print(f"  {name:14s} {describe(times[name])}")
        ratios = pair_ratios(times[name_b], times[name_a])
        print(f"  {name_b} / {name_a} time, per round: {describe(ratios, '', 1, '.3f')}")
    print_load_after()


if __name__ == "__main__":
    main()
