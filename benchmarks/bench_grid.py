"""How much does training the grid's configurations together save? Batched vs one at a time.

    python benchmarks/bench_grid.py [--device cpu|cuda] [--steps 20] [--configs N]
                                    [--threads N] [--profile paper]

Both sides train the same configurations of Table 1 (``settings("mlp_grid", profile)``;
``--configs`` keeps the first N of the grid, default all) for ``--steps`` Adam steps on the
same random stand-in batches (200 x 3072; the data do not change the cost) on one device:

* batched: :func:`course_lib.mlp_grid.build_stacks` + :func:`course_lib.mlp_grid.train_step`
  (one stack per first-layer size, batched matrix products, the stacked Adam);
* sequential: for each configuration a :class:`course_lib.torch_mlp.TorchMLP` trained with
  ``torch.optim.Adam``, one after another (the plain way).

Prints the time per step of each, the speed-up, the achieved FLOP rate and, from the batched
step time, an estimate of the paper grid (81 configurations x 4,000 steps, evaluation
excluded). A few warm-up steps are not timed; CUDA is synchronised before each clock read.
Timings on a shared machine are noisy: report the machine, its load and the thread count.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from course_lib import profiles
from course_lib.mlp_grid import build_stacks, grid_configs, train_step
from course_lib.torch_mlp import make_mlp

N_POOL, N_IN, N_CLASSES = 4000, 3072, 10


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--steps", type=int, default=20, help="timed steps on each side")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--configs", type=int, default=None, help="first N configurations")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--profile", default="paper", help="whose grid values (default paper)")
    return parser.parse_args()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_flops(configs: list[dict], second: int, batch: int) -> float:
    """Multiply-adds x 2 of one training step of every configuration: forward (x1),
    weight gradients (x1) and input gradients (x1, none for the first layer)."""
    total = 0.0
    for c in configs:
        h1 = c["first_hidden"]
        total += 2 * batch * (2 * N_IN * h1 + 3 * h1 * second + 3 * second * N_CLASSES)
    return total


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    settings = profiles.settings("mlp_grid", args.profile)
    configs = grid_configs(settings)[:args.configs]
    second, batch = settings.second_hidden, settings.batch_size
    gen = torch.Generator().manual_seed(0)
    x = (60 * torch.randn(N_POOL, N_IN, generator=gen)).to(device)
    y = torch.randint(0, N_CLASSES, (N_POOL,), generator=gen).to(device)
    batches = [torch.randint(0, N_POOL, (batch,), generator=gen).to(device)
               for _ in range(args.warmup + args.steps)]
    dropout_u = torch.rand(args.warmup + args.steps, batch, second, generator=gen).to(device)

    # batched: every configuration in one of a few stacks
    stacks = build_stacks(configs, N_IN, second, N_CLASSES, seed=0, device=device)
    for i, idx in enumerate(batches):
        if i == args.warmup:
            sync(device)
            start = time.perf_counter()
        for s in stacks:
            train_step(s, x[idx], y[idx], dropout_u[i])
    sync(device)
    batched = (time.perf_counter() - start) / args.steps
    del stacks

    # sequential: one nn.Module and one torch.optim.Adam per configuration
    total = 0.0
    for c in configs:
        model = make_mlp(N_IN, [c["first_hidden"], second], N_CLASSES, seed=0,
                         dropout=c["dropout"]).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=c["learning_rate"],
                               weight_decay=c["weight_decay"])
        for i, idx in enumerate(batches):
            if i == args.warmup:
                sync(device)
                start = time.perf_counter()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)
        total += time.perf_counter() - start
    sequential = total / args.steps

    flops = step_flops(configs, second, batch)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {name}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{len(configs)} configurations, {args.steps} timed steps (batch {batch})")
    print(f"batched    : {batched * 1e3:9.1f} ms per step of all configurations "
          f"({flops / batched / 1e12:.2f} TFLOP/s)")
    print(f"sequential : {sequential * 1e3:9.1f} ms per step of all configurations "
          f"({flops / sequential / 1e12:.2f} TFLOP/s)")
    print(f"speed-up of the batched grid: {sequential / batched:.1f}x")
    full = step_flops(grid_configs(profiles.settings("mlp_grid", "paper")), second, batch)
    estimate = batched * full / flops * 4000
    print(f"paper grid (81 configurations x 4,000 steps, no evaluation) at this rate: "
          f"about {estimate:.0f} s")


if __name__ == "__main__":
    main()
