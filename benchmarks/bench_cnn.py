"""How close does one training step of the chapter-6 ConvNet come to the machine's speed?

Counts the FLOPs of a training step analytically from the layer shapes (3x3 convolutions
and the final linear layer; BatchNorm, ReLU and pooling are memory-bound and not counted):
a layer with ``M`` multiply-adds per image costs ``2M`` FLOPs forward, and backward ``2M``
for the weight gradient plus ``2M`` for the input gradient (not needed for ``conv1``, whose
input is the data). Then times the step (forward, backward, Adam; fp32, eager, batch 32,
median over ``--steps`` steps) and a large fp32 matrix product on the same device in the
same run, and prints the achieved GFLOP/s of each and their ratio.

    python benchmarks/bench_cnn.py [--device cpu|cuda] [--batch 32] [--steps 20] [--matmul 2048]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from course_lib.convnet import ARCHITECTURE, ConvNet, adam, grouped_loss


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


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_matmul(n: int, device, repeats: int = 5) -> float:
    """Median seconds of an ``n x n`` by ``n x n`` fp32 product."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def time_step(batch: int, steps: int, device, warmup: int = 3) -> list[float]:
    """Seconds of each timed training step of the single ConvNet (Adam as in training)."""
    torch.manual_seed(0)
    model = ConvNet(3, 10).to(device).train()
    optimizer = adam(model.parameters(), lr=1e-4)  # fused where available, as in training
    x = 60 * torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch, 1), device=device)
    times = []
    for i in range(warmup + steps):
        sync(device)
        t = time.perf_counter()
        loss, _ = grouped_loss(model(x).view(batch, 1, -1), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--matmul", type=int, default=2048, help="matrix size n of the n^3 product")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":  # plain fp32 on the GPU too, no TF32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    for name, m in layer_macs():
        print(f"  {name:8s} {m / 1e6:8.2f} M multiply-adds per image")
    forward, total = step_flops(args.batch)
    print(f"training step, batch {args.batch}: {forward / 1e9:.2f} GFLOP forward, "
          f"{total / 1e9:.2f} GFLOP forward + backward")

    mm_before = time_matmul(args.matmul, device)
    times = time_step(args.batch, args.steps, device)
    step = statistics.median(times)
    mm_after = time_matmul(args.matmul, device)
    mm = min(mm_before, mm_after)
    mm_gflops = 2 * args.matmul ** 3 / mm / 1e9
    step_gflops = total / step / 1e9
    print(f"matmul {args.matmul}^3 fp32: {mm * 1e3:.1f} ms -> {mm_gflops:.1f} GFLOP/s "
          f"(before {2 * args.matmul ** 3 / mm_before / 1e9:.1f}, "
          f"after {2 * args.matmul ** 3 / mm_after / 1e9:.1f})")
    print(f"ConvNet training step: {step * 1e3:.1f} ms (median of {args.steps}; fastest "
          f"{min(times) * 1e3:.1f} ms) -> {step_gflops:.1f} GFLOP/s")
    print(f"ratio step / matmul: {step_gflops / mm_gflops:.0%}")


if __name__ == "__main__":
    main()
